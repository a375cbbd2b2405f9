"""Train/eval leakage: the split training makes, compared half against half."""

from __future__ import annotations

import json
from pathlib import Path

from higgs_lora import load_recipe
from higgs_lora.data.leakage import find_leakage, sentence_key
from higgs_lora.data.samples import split_examples
from higgs_lora.verbs.prepare import prepare
from tests.helpers import write_clip
from tests.unit.test_data import recipe_for


def test_sentences_match_without_case_punctuation_or_spacing() -> None:
    assert sentence_key("Hello,  there!") == sentence_key("hello there") == "hello there"
    assert sentence_key("Hello there.") != sentence_key("Hello, where?")


def test_leakage_counts_eval_clips_that_repeat_training_audio_or_sentences() -> None:
    # 20 clips: audio "a" for all even clips, sentence "same words" for every third one.
    clips = [(f"a{i % 2 or i}", "Same words." if i % 3 == 0 else f"line {i}", f"row {i}") for i in range(20)]
    leak = find_leakage(clips, lambda c: c[0], lambda c: c[1], lambda c: c[2], 0.25, 42)
    train, held = split_examples(clips, 0.25, 42)  # type: ignore[arg-type]
    assert leak.eval_clips == len(held) == 5
    assert leak.same_audio == [c[2] for c in held if c[0] in {t[0] for t in train}]
    assert leak.same_text == [
        c[2] for c in held if c[1] == "Same words." and any(t[1] == c[1] for t in train)
    ]
    assert leak.same_audio or leak.same_text  # the fixture must exercise something
    line = leak.summary()
    assert line is not None and f"of 5 eval clips, {len(leak.same_audio)} " in line
    distinct = [(f"a{i}", f"line {i}", f"row {i}") for i in range(20)]
    assert find_leakage(distinct, lambda c: c[0], lambda c: c[1], lambda c: c[2], 0.25, 42).summary() is None


def test_prepare_reports_eval_clips_that_repeat_training_clips(tmp_path: Path, audio_tokenizer) -> None:
    root = tmp_path / "lj"
    rows = []
    for i in range(8):
        write_clip(root / "wavs" / f"c{i}.wav", seconds=0.5, seed=i % 2)  # two distinct recordings
        rows.append(f"c{i}|{'The same sentence.' if i % 2 else f'Sentence {i}.'}")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    recipe = recipe_for(tmp_path, "lj", "eval_fraction = 0.5")
    result = prepare(load_recipe(recipe), audio_tokenizer=audio_tokenizer, progress=False)
    assert result.leakage is not None and result.leakage.eval_clips == 4
    assert len(result.leakage.same_audio) == 4  # every eval clip's audio is also a training clip's
    assert "train/eval leakage: of 4 eval clips, 4 (100%) have the same audio" in result.summary()
    report = json.loads((result.cache_folder / "prepare-report.json").read_text())
    assert report["leakage"]["same_audio_share"] == 1.0


def test_dataset_check_reports_leakage_for_the_default_split(tmp_path: Path) -> None:
    from higgs_lora.dataset import check_dataset

    root = tmp_path / "lj"
    for i in range(6):
        write_clip(root / "wavs" / f"c{i}.wav", seconds=1.2, seed=0)  # one recording, six names
    rows = [f"c{i}|Sentence number {i}." for i in range(6)]
    (root / "metadata.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = check_dataset(root, progress=False)
    assert report.leakage is not None and report.leakage.eval_clips == 1
    assert len(report.leakage.same_audio) == 1 and not report.leakage.same_text
    assert "train/eval leakage: of 1 eval clips, 1 (100%) have the same audio" in report.summary()
    assert report.as_dict()["leakage"]["same_audio_share"] == 1.0
    # the split of a recipe with another eval_fraction and seed, as `dataset check --eval-fraction` asks
    wider = check_dataset(root, progress=False, eval_fraction=0.5, seed=7)
    assert wider.leakage is not None and wider.leakage.eval_clips == 3 and len(wider.leakage.same_audio) == 3
    assert check_dataset(root, progress=False, eval_fraction=0.0).leakage is None  # no eval split

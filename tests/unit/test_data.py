"""Dataset formats, bad files and the codes cache, with the tiny audio tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile

from higgs_lora import DataError, load_recipe
from higgs_lora.data import read_clips
from higgs_lora.higgs.examples import load_codes
from higgs_lora.verbs.prepare import prepare
from tests.helpers import write_clip


def recipe_for(tmp_path: Path, data: str, extra: str = "") -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(
        f'name = "d"\n[model]\nbase = "tiny-random"\naudio_tokenizer = "tiny-random"\n'
        f'[data]\npath = "{data}"\nmin_seconds = 0.3\nmax_seconds = 3.0\n{extra}\n',
        encoding="utf-8",
    )
    return path


def test_ljspeech_prefers_normalized_text_and_tolerates_bom_crlf(tmp_path: Path) -> None:
    root = tmp_path / "lj"
    (root / "wavs").mkdir(parents=True)
    (root / "metadata.csv").write_bytes(
        "\ufeffa|Dr. Smith paid $5|Doctor Smith paid five dollars\r\nb|Plain text\r\nbroken-row\r\n".encode()
    )
    clips, skips = read_clips(root)
    assert [(c.id, c.text) for c in clips] == [("a", "Doctor Smith paid five dollars"), ("b", "Plain text")]
    assert clips[0].audio == (root / "wavs" / "a.wav").resolve()
    assert [(s.reason, s.where) for s in skips] == [("malformed_row", f"{root / 'metadata.csv'} line 3")]


def test_ljspeech_format_on_a_built_data_set_says_to_use_jsonl(tmp_path: Path) -> None:
    root = tmp_path / "built"
    (root / "wavs").mkdir(parents=True)
    (root / "train.jsonl").write_text('{"audio": "wavs/a.wav", "text": "Hi."}\n', encoding="utf-8")
    with pytest.raises(DataError, match='holds train.jsonl .* Set format = "jsonl" or "auto"'):
        read_clips(root, "ljspeech")


def test_jsonl_rows_paths_and_refs(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        "\n".join(
            [
                json.dumps(
                    {"audio": "a.wav", "text": "hi", "speaker": "s1", "ref_audio": "r.wav", "ref_text": "yo"}
                ),
                "{not json",
                json.dumps({"audio": "../../etc/passwd", "text": "x"}),
                json.dumps({"text": "no audio"}),
            ]
        ),
        encoding="utf-8",
    )
    clips, skips = read_clips(manifest)
    assert len(clips) == 1 and clips[0].speaker == "s1" and clips[0].ref_text == "yo"
    assert clips[0].ref_audio == (tmp_path / "r.wav").resolve()
    assert [s.reason for s in skips] == ["malformed_row", "outside_dataset", "malformed_row"]
    assert "line 2: not valid JSON" in str(skips[0])


def test_folder_pairs(tmp_path: Path) -> None:
    write_clip(tmp_path / "one.wav")
    (tmp_path / "one.txt").write_text("First.\n", encoding="utf-8")
    write_clip(tmp_path / "sub" / "two.flac")
    (tmp_path / "sub" / "two.txt").write_text("Second.", encoding="utf-8")
    write_clip(tmp_path / "lonely.wav")
    clips, skips = read_clips(tmp_path)
    assert [(c.id, c.text) for c in clips] == [("one", "First."), ("sub/two", "Second.")]
    assert [s.reason for s in skips] == ["missing_transcript"]


def test_missing_dataset_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset not found"):
        read_clips(tmp_path / "nothing")


def bad_dataset(tmp_path: Path) -> Path:
    """An LJSpeech folder with one good clip and one of each problem prepare must survive."""
    root = tmp_path / "bad"
    wavs = root / "wavs"
    write_clip(wavs / "good.wav", seconds=1.0, sample_rate=44100, channels=2)
    write_clip(wavs / "short.wav", seconds=0.1)
    write_clip(wavs / "long.wav", seconds=4.0)
    write_clip(wavs / "notext.wav")
    (wavs / "notaudio.wav").write_text("this is not audio", encoding="utf-8")
    soundfile.write(str(wavs / "silent.wav"), [0.0] * 22050, 22050)
    rows = [
        "good|Good clip.",
        "missing|No file.",
        "short|Too short.",
        "long|Too long.",
        "notext|",
        "notaudio|Bad.",
        "silent|Hush.",
    ]
    (root / "metadata.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


def test_prepare_skips_bad_files_with_reasons_and_keeps_going(tmp_path: Path, audio_tokenizer) -> None:
    root = bad_dataset(tmp_path)
    result = prepare(
        load_recipe(recipe_for(tmp_path, "bad")), audio_tokenizer=audio_tokenizer, progress=False
    )
    assert [item.clip.id for item in result.clips] == ["good"]
    reasons = {s.where.rsplit(" ", 1)[-1]: (s.reason, s.detail) for s in result.skipped}
    assert reasons["2"][0] == "missing_file" and "missing.wav not found" in reasons["2"][1]
    assert reasons["3"] == ("too_short", "0.10 s is outside [data] min_seconds..max_seconds (0.3..3.0)")
    assert reasons["4"][0] == "too_long"
    assert reasons["5"] == ("empty_text", "transcript is empty")
    assert reasons["6"][0] == "unreadable_audio"
    assert reasons["7"][0] == "silent_audio"
    assert all(str(root / "metadata.csv") in s.where for s in result.skipped)
    summary = result.summary()
    assert "prepared 1 clips" in summary
    assert "1 empty_text" in summary and "1 missing_file" in summary and "1 unreadable_audio" in summary
    report = json.loads((result.cache_folder / "prepare-report.json").read_text())
    assert report["kept"] == 1 and report["skipped"] == 6 and report["skipped_by_reason"]["too_long"] == 1


def test_cache_is_reused_and_keyed_by_content(tmp_path: Path, audio_tokenizer) -> None:
    root = tmp_path / "lj"
    write_clip(root / "wavs" / "a.wav", seconds=1.0, sample_rate=48000)
    write_clip(root / "wavs" / "b.wav", seconds=0.8, sample_rate=8000, seed=1)
    (root / "metadata.csv").write_text("a|One.\nb|Two.\n", encoding="utf-8")
    recipe = load_recipe(recipe_for(tmp_path, "lj"))
    first = prepare(recipe, audio_tokenizer=audio_tokenizer, progress=False)
    assert first.encoded == 2
    codes = load_codes(first.clips[0].codes)
    assert codes.shape == (4, 50)  # 1.0 s at the tiny tokenizer's 50 frames/s, 4 codebooks
    assert prepare(recipe, audio_tokenizer=audio_tokenizer, progress=False).encoded == 0
    write_clip(root / "wavs" / "a.wav", seconds=1.2, sample_rate=48000, seed=5)
    again = prepare(recipe, audio_tokenizer=audio_tokenizer, progress=False)
    assert again.encoded == 1
    assert load_codes(again.clips[0].codes).shape == (4, 60)


def test_no_usable_clip_is_an_error(tmp_path: Path, audio_tokenizer) -> None:
    root = tmp_path / "lj"
    (root / "wavs").mkdir(parents=True)
    (root / "metadata.csv").write_text("a|One.\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"no usable clips .*1 missing_file"):
        prepare(load_recipe(recipe_for(tmp_path, "lj")), audio_tokenizer=audio_tokenizer, progress=False)


def test_manifest_reference_mode_requires_refs(tmp_path: Path, audio_tokenizer) -> None:
    write_clip(tmp_path / "a.wav")
    write_clip(tmp_path / "r.wav", seed=2)
    (tmp_path / "m.jsonl").write_text(
        json.dumps({"audio": "a.wav", "text": "Hi.", "ref_audio": "r.wav", "ref_text": "Ref."})
        + "\n"
        + json.dumps({"audio": "a.wav", "id": "noref", "text": "Hi again."})
        + "\n",
        encoding="utf-8",
    )
    recipe = load_recipe(recipe_for(tmp_path, "m.jsonl", 'reference = "manifest"'))
    result = prepare(recipe, audio_tokenizer=audio_tokenizer, progress=False)
    assert len(result.clips) == 1 and result.clips[0].ref_codes is not None
    assert [s.reason for s in result.skipped] == ["missing_reference"]

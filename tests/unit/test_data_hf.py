"""`[data] format = "hf"`: a datasets data set built and saved locally by the test, read offline."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from higgs_lora import DataError, RecipeError, load_recipe
from higgs_lora.verbs.prepare import prepare
from tests.helpers import SMOKE_DATA


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    import io

    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV")
    return buffer.getvalue()


def smoke_rows() -> dict[str, list]:
    lines = (SMOKE_DATA / "metadata.csv").read_text(encoding="utf-8").splitlines()[:3]
    rows = {"audio": [], "sentence": [], "spk": []}
    for i, line in enumerate(lines):
        clip_id, text = line.split("|")[:2]
        wav = SMOKE_DATA / "wavs" / f"{clip_id}.wav"
        rows["audio"].append({"bytes": wav.read_bytes(), "path": wav.name})
        rows["sentence"].append(text)
        rows["spk"].append(f"s{i % 2}")
    # bad rows: an empty transcript, silent audio, bytes that are not audio
    rows["audio"].append({"bytes": (SMOKE_DATA / "wavs" / "smoke_005.wav").read_bytes(), "path": "x.wav"})
    rows["sentence"].append("")
    rows["spk"].append("s0")
    rows["audio"].append({"bytes": wav_bytes(np.zeros(16000, dtype=np.float32), 16000), "path": "quiet.wav"})
    rows["sentence"].append("Silence.")
    rows["spk"].append("s1")
    rows["audio"].append({"bytes": b"not audio at all", "path": "broken.wav"})
    rows["sentence"].append("Broken.")
    rows["spk"].append("s1")
    return rows


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import datasets
    import soundfile

    rows = smoke_rows()
    # Stored as the hub stores audio ({"bytes", "path"} with the Audio feature type); cast rather than
    # encoded, because datasets 4+ encodes through torchcodec, which the kit does not need.
    struct = {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}
    features = datasets.Features(
        {"audio": struct, "sentence": datasets.Value("string"), "spk": datasets.Value("string")}
    )
    dataset = datasets.Dataset.from_dict(rows, features=features).cast_column("audio", datasets.Audio())
    root = tmp_path_factory.mktemp("hf")
    datasets.DatasetDict({"train": dataset}).save_to_disk(str(root / "saved"))
    dataset.to_parquet(str(root / "set.parquet"))
    # the layout without an Audio feature: {"array": [...], "sampling_rate": n} structs
    arrays = []
    for item in rows["audio"]:
        try:
            samples, rate = soundfile.read(io.BytesIO(item["bytes"]), dtype="float32")
            arrays.append({"array": samples.tolist(), "sampling_rate": rate})
        except soundfile.LibsndfileError:
            arrays.append({"array": None, "sampling_rate": None})
    datasets.Dataset.from_dict({**rows, "audio": arrays}).save_to_disk(str(root / "arrays"))
    return root


def recipe(tmp_path: Path, path: str, extra: str = "") -> Path:
    file = tmp_path / "recipe.toml"
    file.write_text(
        f'name = "h"\n[model]\nbase = "tiny-random"\naudio_tokenizer = "tiny-random"\n'
        f'[data]\nformat = "hf"\npath = "{path}"\ntext_column = "sentence"\nspeaker_column = "spk"\n'
        f'cache_dir = "{tmp_path / "cache"}"\nmin_seconds = 0.3\nmax_seconds = 5\n{extra}\n',
        encoding="utf-8",
    )
    return file


@pytest.mark.parametrize("layout", ["saved", "set.parquet"])
def test_saved_folder_and_parquet_go_through_the_same_checks_and_cache(
    saved: Path, tmp_path: Path, layout: str, audio_tokenizer
) -> None:
    r = load_recipe(recipe(saved, str(saved / layout)))  # one codes cache for both layouts
    result = prepare(r, audio_tokenizer=audio_tokenizer, progress=False)
    assert [p.clip.speaker for p in result.clips] == ["s0", "s1", "s0"]
    assert result.clips[1].clip.text == "Hello there, how are you?"
    assert sorted(s.reason for s in result.skipped) == ["empty_text", "silent_audio", "unreadable_audio"]
    assert all(f"{saved / layout} [train] row" in s.where for s in result.skipped)
    again = prepare(r, audio_tokenizer=audio_tokenizer, progress=False)  # the codes cache holds them
    assert again.encoded == 0 and len(again.clips) == 3


def test_rows_of_arrays_without_an_audio_feature(saved: Path, tmp_path: Path) -> None:
    import soundfile

    from higgs_lora.data.hf import read_hf

    r = load_recipe(recipe(tmp_path, str(saved / "arrays")))
    clips, skips = read_hf(r.data, r.base_dir, tmp_path / "audio", progress=False)
    assert len(clips) == 5 and [s.reason for s in skips] == ["missing_audio"]
    samples, rate = soundfile.read(str(clips[0].audio), dtype="float32")
    original, original_rate = soundfile.read(str(SMOKE_DATA / "wavs" / "smoke_001.wav"), dtype="float32")
    assert rate == original_rate and abs(samples - original).max() < 1e-4
    again, _ = read_hf(r.data, r.base_dir, tmp_path / "audio", progress=False)
    assert [c.audio for c in again] == [c.audio for c in clips]  # same content, same file


def test_missing_column_names_the_key_and_the_columns(saved: Path, tmp_path: Path) -> None:
    r = load_recipe(recipe(tmp_path, str(saved / "saved"), 'audio_column = "wav"'))
    with pytest.raises(
        DataError, match=r'no column for \[data\] audio_column = "wav"\. Columns: audio, sentence, spk'
    ):
        prepare(r, progress=False)


def test_missing_split_lists_the_splits(saved: Path, tmp_path: Path) -> None:
    r = load_recipe(recipe(tmp_path, str(saved / "saved"), 'split = "test"'))
    with pytest.raises(DataError, match=r"no split 'test' \(\[data\] split\)\. Splits: train"):
        prepare(r, progress=False)


def test_hf_keys_need_format_hf(tmp_path: Path) -> None:
    file = tmp_path / "r.toml"
    file.write_text('name = "x"\n[data]\npath = "d"\ntext_column = "sentence"\n', encoding="utf-8")
    with pytest.raises(
        RecipeError, match=r'text_column only apply to Hugging Face data sets: set format = "hf"'
    ):
        load_recipe(file)

"""`higgs-lora dataset build/check` end to end through the real command, offline: the real VAD, a
tiny random Whisper, subtitles and a .txt transcript, bad files, resuming after kill -9."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile

from higgs_lora.data import read_clips
from higgs_lora.dataset.clean import loudness
from tests.helpers import SMOKE_DATA, run_cli
from tests.recordings import long_recording, smoke_texts


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("recordings")
    long_recording(folder / "talk.wav", repeats=2, seed=0, srt=True)  # ~44 s, timed transcript
    long_recording(folder / "memo.wav", repeats=1, seed=1)  # no transcript: Whisper
    (folder / "note.wav").write_bytes((SMOKE_DATA / "wavs" / "smoke_003.wav").read_bytes())
    (folder / "note.txt").write_text("Training a voice takes time.\n", encoding="utf-8")
    (folder / "broken.wav").write_bytes(b"")  # zero bytes
    (folder / "text.mp3").write_text("this is not audio", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def built(inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("built") / "voice"
    result = run_cli(
        "dataset", "build", str(inputs), "--out", str(out), "--asr-model", "tiny-random", "--language", "en"
    )
    return out, result


def test_build_cuts_transcribes_cleans_and_reports(built: tuple[Path, subprocess.CompletedProcess]) -> None:
    out, result = built
    assert result.returncode == 0, result.stderr
    assert "5 inputs" in result.stdout and "dropped:" in result.stdout
    assert "skipped" in result.stdout and "broken.wav" in result.stdout and "text.mp3" in result.stdout
    clips, skips = read_clips(out)  # what a recipe with [data] path = "data/voice" reads
    assert not skips and clips
    assert {c.speaker for c in clips} == {"voice"}
    by_source: dict[str, list] = {}
    for clip in clips:
        by_source.setdefault(Path(json.loads(_row(out, clip.id))["source"]).name, []).append(clip)
    # the srt's text arrives complete and in order, split only between cues
    srt_text = " ".join(list(smoke_texts().values()) * 2)
    assert " ".join(c.text for c in by_source["talk.wav"]) == srt_text
    assert [c.text for c in by_source["note.wav"]] == ["Training a voice takes time."]
    # Both environments: the memo's speech is kept with the tiny Whisper's text. Under transformers 5 the
    # random Whisper times its letters densely over the whole memo: the run is split between two timed
    # words instead of being dropped as too long.
    assert by_source["memo.wav"] and all(c.text for c in by_source["memo.wav"])
    for clip in clips:
        samples, rate = soundfile.read(str(clip.audio), dtype="float32")
        assert rate == 24000 and samples.ndim == 1
        assert 1.0 <= samples.size / rate <= 15.0
        assert loudness(samples, rate) == pytest.approx(-23.0, abs=0.5)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["inputs"] == 5 and report["clips"] == len(clips)
    assert report["dropped_by_reason"]["bad_input"]["count"] == 2
    assert 0 < report["minutes_kept"] < report["minutes_in"]
    bad = {Path(d["source"]).name: d["detail"] for d in report["dropped_clips"] if d["reason"] == "bad_input"}
    assert set(bad) == {"broken.wav", "text.mp3"}
    assert (out / "review.html").is_file()


def _row(out: Path, clip_id: str) -> str:
    return next(
        line for line in (out / "train.jsonl").read_text(encoding="utf-8").splitlines() if clip_id in line
    )


def test_check_reports_and_changes_nothing(
    built: tuple[Path, subprocess.CompletedProcess], tmp_path: Path
) -> None:
    out, _ = built
    before = _snapshot(out)
    result = run_cli("dataset", "check", str(out))
    assert result.returncode == 0, result.stderr
    assert "0 clips with problems" in result.stdout and "Nothing was changed" in result.stdout
    assert _snapshot(out) == before
    # an LJSpeech set with a clipped and a noisy clip: both found, by file and line
    import numpy as np

    lj = tmp_path / "lj"
    (lj / "wavs").mkdir(parents=True)
    clean, rate = soundfile.read(str(SMOKE_DATA / "wavs" / "smoke_001.wav"), dtype="float32")
    soundfile.write(str(lj / "wavs" / "a.wav"), clean, rate)
    soundfile.write(str(lj / "wavs" / "b.wav"), np.clip(clean * 20, -1, 1), rate)
    noise = np.random.default_rng(0).normal(0, 0.05, clean.size).astype(np.float32)
    soundfile.write(str(lj / "wavs" / "c.wav"), clean + noise, rate)
    (lj / "metadata.csv").write_text("a|One.\nb|Two.\nc|Three.\n", encoding="utf-8")
    result = run_cli("dataset", "check", str(lj), "--json")
    report = json.loads(result.stdout)
    found = {(p["where"].rsplit(" ", 1)[-1], p["reason"]) for p in report["problems"]}
    assert ("2", "clipped") in found and ("3", "noisy") in found
    assert not any(where == "1" for where, _ in found)


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_ljspeech_output_and_refusing_a_foreign_folder(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "lj"
    result = run_cli("dataset", "build", str(inputs / "note.wav"), "--out", str(out), "--format", "ljspeech")
    assert result.returncode == 0, result.stderr
    assert (out / "metadata.csv").read_text(encoding="utf-8") == (
        "note_0001|Training a voice takes time.|Training a voice takes time.\n"
    )
    clips, _ = read_clips(out)
    assert [c.id for c in clips] == ["note_0001"] and clips[0].audio.is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("user file", encoding="utf-8")
    result = run_cli("dataset", "build", str(inputs / "note.wav"), "--out", str(mine))
    assert result.returncode == 2 and "not empty; choose another --out (nothing was changed)" in result.stderr
    result = run_cli("dataset", "build", str(inputs / "talk.wav"), "--out", str(out))
    assert result.returncode == 2 and "built from other inputs or options" in result.stderr


@pytest.mark.slow
def test_kill_9_midway_then_rerun_gives_the_uninterrupted_result(inputs: Path, tmp_path: Path) -> None:
    sources = [str(inputs / "talk.wav"), str(inputs / "memo.wav")]
    args = ["--asr-model", "tiny-random", "--language", "en"]
    whole = tmp_path / "a" / "voice"
    assert run_cli("dataset", "build", *sources, "--out", str(whole), *args).returncode == 0
    part = tmp_path / "b" / "voice"
    process = subprocess.Popen(
        [sys.executable, "-m", "higgs_lora", "dataset", "build", *sources, "--out", str(part), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not list(part.glob(".work/talk-*/done.json")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)  # talk.wav is done; memo.wav is being transcribed
    process.wait()
    assert list(part.glob("wavs/talk_*.wav")) and not (part / "train.jsonl").exists()
    done = next(part.glob(".work/talk-*/done.json"))
    stamp = done.stat().st_mtime_ns
    result = run_cli("dataset", "build", *sources, "--out", str(part), *args)
    assert result.returncode == 0, result.stderr
    assert "1 already done by an earlier run" in result.stdout
    assert done.stat().st_mtime_ns == stamp  # not redone
    a = {k: v for k, v in _snapshot(whole).items() if not k.startswith((".work", "review.html"))}
    b = {k: v for k, v in _snapshot(part).items() if not k.startswith((".work", "review.html"))}
    assert a == b and "train.jsonl" in a and len([k for k in a if k.startswith("wavs/")]) >= 4
    page_a = (whole / "review.html").read_text(encoding="utf-8").replace(str(whole), "ROOT")
    assert page_a == (part / "review.html").read_text(encoding="utf-8").replace(str(part), "ROOT")


def test_a_duplicate_recording_leaves_one_clip_and_its_audio_leaves_wavs(tmp_path: Path) -> None:
    from higgs_lora.dataset.build import BuildOptions, build_dataset

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "copy_of_a"):
        (folder / f"{name}.wav").write_bytes((SMOKE_DATA / "wavs" / "smoke_003.wav").read_bytes())
        (folder / f"{name}.txt").write_text("Training a voice takes time.\n", encoding="utf-8")
    report = build_dataset([folder], tmp_path / "out", BuildOptions(speaker="v"), progress=False)
    clips, _ = read_clips(tmp_path / "out")
    assert len(clips) == 1 and report.clips == 1
    assert sorted(p.name for p in (tmp_path / "out" / "wavs").iterdir()) == [clips[0].audio.name]
    assert "duplicate" in json.loads((tmp_path / "out" / "report.json").read_text())["dropped_by_reason"]

"""Hostile inputs: every one is kept or skipped with the right reason, and prepare never dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from higgs_lora import load_recipe
from higgs_lora.higgs.examples import load_codes
from higgs_lora.verbs.prepare import prepare
from tests.helpers import write_clip
from tests.hostile_data import (
    KEPT,
    build_ljspeech_cases,
    build_manifest_cases,
    outcome_by_line,
    write_manifest,
)


def recipe(tmp_path: Path, data: str) -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(
        f'name = "h"\n[model]\nbase = "tiny-random"\naudio_tokenizer = "tiny-random"\n'
        f'[data]\npath = "{data}"\nmin_seconds = 0.3\nmax_seconds = 3.0\n',
        encoding="utf-8",
    )
    return path


def test_every_hostile_manifest_row_is_handled(tmp_path: Path, audio_tokenizer) -> None:
    root = tmp_path / "data"
    cases = build_manifest_cases(root)
    manifest = write_manifest(root, cases)
    result = prepare(
        load_recipe(recipe(tmp_path, "data/manifest.jsonl")), audio_tokenizer=audio_tokenizer, progress=False
    )
    outcome = outcome_by_line([item.clip.where for item in result.clips], result.skipped, manifest)
    got = {case.name: outcome.get(line) for line, case in enumerate(cases, start=1)}
    assert got == {case.name: case.expected for case in cases}
    for skip in result.skipped:
        assert skip.detail and str(manifest) in skip.where  # file, line and a reason for each
    report = json.loads((result.cache_folder / "prepare-report.json").read_text())
    assert report["kept"] == sum(c.expected == KEPT for c in cases)
    assert report["skipped"] == len(cases) - report["kept"]
    assert "1 truncated_audio" in result.summary() and "2 non_finite_audio" in result.summary()


def test_ljspeech_metadata_quirks(tmp_path: Path, audio_tokenizer) -> None:
    root = tmp_path / "lj"
    cases = build_ljspeech_cases(root)
    result = prepare(load_recipe(recipe(tmp_path, "lj")), audio_tokenizer=audio_tokenizer, progress=False)
    outcome = outcome_by_line(
        [item.clip.where for item in result.clips], result.skipped, root / "metadata.csv"
    )
    assert {case.name: outcome.get(line) for line, case in enumerate(cases, start=1)} == {
        case.name: case.expected for case in cases
    }
    assert result.clips[0].clip.text == "First row after a BOM."


def test_killed_prepare_leaves_no_partial_entry_and_the_rerun_matches(
    tmp_path: Path, audio_tokenizer
) -> None:
    root = tmp_path / "lj"
    rows = []
    for index in range(12):
        write_clip(root / "wavs" / f"c{index}.wav", seconds=1.0 + index / 10, seed=index)
        rows.append(f"c{index}|Clip {index}.")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    path = recipe(tmp_path, "lj")
    cache = root / ".higgs-lora-cache"
    kills = 0
    for _ in range(3):  # kill -9 right after a new entry appears: mid-run, possibly mid-write
        before = len(list(cache.rglob("*.safetensors")))
        process = subprocess.Popen(
            [sys.executable, "-m", "higgs_lora", "prepare", str(path)], env=os.environ.copy()
        )
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            if len(list(cache.rglob("*.safetensors"))) > before:
                process.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.05)
        process.wait()
        for entry in cache.rglob("*.safetensors"):  # whatever exists is complete and readable
            assert load_codes(entry).shape[0] == 4
    assert kills == 3
    resumed = prepare(load_recipe(path), audio_tokenizer=audio_tokenizer, progress=False)
    assert 0 < resumed.encoded < 12  # the kills kept what was done
    assert not list(cache.rglob(".*.tmp"))
    fresh_recipe = load_recipe(path, {"data.cache_dir": str(tmp_path / "fresh")})
    fresh = prepare(fresh_recipe, audio_tokenizer=audio_tokenizer, progress=False)
    assert fresh.encoded == 12 and len(resumed.clips) == len(fresh.clips) == 12
    for a, b in zip(resumed.clips, fresh.clips, strict=True):
        assert a.codes.name == b.codes.name and a.codes.read_bytes() == b.codes.read_bytes()

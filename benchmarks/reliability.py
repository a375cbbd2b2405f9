"""Reliability report: run every hostile input through `prepare` and count what happened.

    python benchmarks/reliability.py

Prints one row per input (expected vs got) and the totals: inputs tried, handled as expected, and data
lost (a valid clip that was not kept). Runs offline on CPU with the tiny audio tokenizer in ~20 s.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from higgs_lora import load_recipe
from higgs_lora.backends.boson.tiny import build_tiny_audio_tokenizer
from higgs_lora.verbs.prepare import prepare
from tests.hostile_data import (
    KEPT,
    build_ljspeech_cases,
    build_manifest_cases,
    outcome_by_line,
    write_manifest,
)


def run(folder: Path, data: str, cases: list, source: Path, tokenizer) -> list[tuple[str, str, str]]:
    recipe = folder / f"{source.stem}.toml"
    recipe.write_text(
        f'name = "r"\n[model]\nbase = "tiny-random"\naudio_tokenizer = "tiny-random"\n'
        f'[data]\npath = "{data}"\nmin_seconds = 0.3\nmax_seconds = 3.0\n',
        encoding="utf-8",
    )
    result = prepare(load_recipe(recipe), audio_tokenizer=tokenizer, progress=False)
    outcome = outcome_by_line([item.clip.where for item in result.clips], result.skipped, source)
    return [(case.name, case.expected, outcome.get(line, "LOST")) for line, case in enumerate(cases, start=1)]


def main() -> int:
    started = time.perf_counter()
    tokenizer = build_tiny_audio_tokenizer()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        manifest_cases = build_manifest_cases(folder / "data")
        manifest = write_manifest(folder / "data", manifest_cases)
        rows = run(folder, "data/manifest.jsonl", manifest_cases, manifest, tokenizer)
        lj_cases = build_ljspeech_cases(folder / "lj")
        rows += run(folder, "lj", lj_cases, folder / "lj" / "metadata.csv", tokenizer)
    width = max(len(name) for name, _, _ in rows)
    print(f"{'input':<{width}}  {'expected':<18} got")
    for name, expected, got in rows:
        mark = "" if expected == got else "   <-- MISMATCH"
        print(f"{name:<{width}}  {expected:<18} {got}{mark}")
    handled = sum(expected == got for _, expected, got in rows)
    lost = sum(expected == KEPT and got != KEPT for _, expected, got in rows)
    print(
        f"\ninputs tried: {len(rows)}  handled as expected: {handled}  data lost: {lost}  "
        f"({time.perf_counter() - started:.1f} s)"
    )
    return 0 if handled == len(rows) and lost == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

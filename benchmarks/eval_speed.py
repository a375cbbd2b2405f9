"""Seconds per evaluated sample on CPU with the tiny model: speak, transcribe + embed, in all.

    python benchmarks/eval_speed.py [--texts 20] [--max-seconds 2]

Trains a tiny adapter for 2 steps on the smoke data (not timed), then runs `evaluate_adapter` on the
first N built-in sentences against the base (2 systems, so 2N samples), with the tiny random Whisper
and the real Resemblyzer encoder. The tiny model rarely chooses EOS, so nearly every sample is spoken
up to --max-seconds: speaking time scales with that limit. Prints eval.json's timing per sample.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=20, help="built-in sentences to speak (20)")
    parser.add_argument("--max-seconds", type=float, default=2.0, help="length limit per sentence (2)")
    args = parser.parse_args()

    import higgs_lora
    from higgs_lora.core.texts import BUILTIN_TEXTS
    from tests.helpers import smoke_recipe

    with tempfile.TemporaryDirectory(prefix="eval-speed-") as folder:
        root = Path(folder)
        os.environ.setdefault("HIGGS_LORA_HOME", str(root / "home"))
        recipe = smoke_recipe(root, root / "cache", train="max_steps = 2\nsave_steps = 100", name="bench")
        adapter = higgs_lora.train(recipe, progress=False).adapter_dir
        started = time.perf_counter()
        report = higgs_lora.evaluate_adapter(
            adapter, texts=list(BUILTIN_TEXTS[: args.texts]), max_seconds=args.max_seconds, progress=False
        )
        total = time.perf_counter() - started
        samples = len(report.samples)
        timing = report.settings["timing"]
        audio = sum(sample.seconds for sample in report.samples)
        result = {
            "samples": samples,
            "audio_seconds_per_sample": round(audio / samples, 2),
            "load_seconds": timing["load_seconds"],
            "speak_seconds_per_sample": round(timing["speak_seconds"] / samples, 3),
            "score_seconds_per_sample": round(timing["score_seconds"] / samples, 3),
            "total_seconds_per_sample": round(total / samples, 3),
            "never_stopped": sum(not sample.stopped for sample in report.samples),
            "cpu_threads": _threads(),
        }
        print(json.dumps(result, indent=2))


def _threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    main()

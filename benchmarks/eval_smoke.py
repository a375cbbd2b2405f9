"""How long `higgs-lora eval` takes on the smoke adapter with its defaults, on this machine's CPU.

    python benchmarks/eval_smoke.py [--skip-limit-run]

Trains recipes/smoke.toml (the README's first command) into a temporary folder, then runs
`evaluate_adapter` with every default (the 20 built-in sentences + the held-out split, adapter and
base, up to 20 s each). The tiny model rarely chooses EOS, so nearly every sentence fails as never
stopped: eval gives each up at twice its expected length plus 1 s. For the ratio, the same eval runs
again with every sentence taken to the 20 s limit (what eval did before), unless --skip-limit-run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-limit-run", action="store_true", help="time only today's eval")
    args = parser.parse_args()

    import torch

    import higgs_lora
    from higgs_lora.evaluate import metrics

    with tempfile.TemporaryDirectory(prefix="eval-smoke-") as folder:
        root = Path(folder)
        os.environ.setdefault("HIGGS_LORA_HOME", str(root / "home"))
        source = (ROOT / "recipes" / "smoke.toml").read_text(encoding="utf-8")
        recipe = root / "smoke.toml"
        recipe.write_text(
            source.replace('"../data/smoke"', json.dumps(str(ROOT / "data" / "smoke"))).replace(
                'name = "smoke"', f'name = "smoke"\noutput_dir = {json.dumps(str(root / "adapters"))}'
            ),
            encoding="utf-8",
        )
        adapter = higgs_lora.train(recipe, progress=False).adapter_dir
        runs = {"default": None} if args.skip_limit_run else {"default": None, "to the limit": True}
        results = {}
        for label, to_limit in runs.items():
            patch = (
                mock.patch.object(metrics, "give_up_seconds", lambda expected, max_seconds: max_seconds)
                if to_limit
                else contextlib.nullcontext()
            )
            started, cpu = time.perf_counter(), time.process_time()
            with patch:
                report = higgs_lora.evaluate_adapter(adapter, force=True, progress=False)
            total, cpu = time.perf_counter() - started, time.process_time() - cpu
            results[label] = {
                "total_seconds": round(total, 1),
                # CPU time of this process (both threads); inflated too when other work shares the
                # cores, so compare only runs made side by side, on a quiet machine.
                "cpu_seconds": round(cpu, 1),
                "samples": len(report.samples),
                "audio_seconds": round(sum(s.seconds for s in report.samples), 1),
                "failed": sum(s.failure is not None for s in report.samples),
                "never_stopped": sum(not s.stopped for s in report.samples),
                **report.settings["timing"],
            }
        if len(results) == 2:
            results["ratio (to the limit / default)"] = round(
                results["to the limit"]["total_seconds"] / results["default"]["total_seconds"], 2
            )
        results["cpu_threads"] = torch.get_num_threads()
        results["load_average"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

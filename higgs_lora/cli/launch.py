"""`train --processes N`: hand the command over to `accelerate launch` (one process per GPU)."""

from __future__ import annotations

import sys


def launch(processes: int, argv: list[str]) -> int:
    """Hand `train` over to `accelerate launch` with N processes (one per GPU, or gloo on CPU)."""
    import subprocess

    rest = [a for i, a in enumerate(argv) if a != "--processes" and (i == 0 or argv[i - 1] != "--processes")]
    rest = [a for a in rest if not a.startswith("--processes=")]
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu",  # accelerate's multi-process launcher; on a CPU-only machine it runs gloo
        "--num_processes", str(processes), "--num_machines", "1",
        "--mixed_precision", "no",  # the recipe decides (bf16 on GPUs) through the Trainer
        "--dynamo_backend", "no",
        "-m", "higgs_lora", *rest,
    ]  # fmt: skip
    print("launching:", " ".join(command[2:]), flush=True)
    return subprocess.call(command)

"""Checkpoints that survive crashes: a completion marker, resume from the last complete one, disk room.

transformers' Trainer writes checkpoint-N/ file by file; a kill -9 in the middle leaves a folder that
looks like a checkpoint but is not one, and resuming from it (or letting the Trainer's rotation keep it
over a good one) loses work. Every checkpoint we finish gets a marker written last and atomically; only
marked checkpoints count, and unmarked leftovers are removed before training starts.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from higgs_lora.core.errors import HiggsLoraError

COMPLETE = "higgs_lora_complete"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def mark_complete(checkpoint: Path) -> None:
    """Record that `checkpoint` is fully written (after every other file of it is on disk)."""
    for file in checkpoint.iterdir():
        if file.is_file():
            with file.open("rb") as handle:
                os.fsync(handle.fileno())
    marker = checkpoint / f".{COMPLETE}.tmp"
    with marker.open("w", encoding="utf-8") as handle:
        handle.write("complete\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(marker, checkpoint / COMPLETE)


def checkpoints(folder: Path) -> list[tuple[int, Path, bool]]:
    """(step, path, complete) for every checkpoint-N folder, by step."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _CHECKPOINT.match(path.name)
        if match and path.is_dir():
            found.append((int(match[1]), path, (path / COMPLETE).is_file()))
    return sorted(found)


def last_complete(folder: Path) -> Path | None:
    complete = [path for _, path, done in checkpoints(folder) if done]
    return complete[-1] if complete else None


def discard_incomplete(folder: Path) -> list[Path]:
    """Remove checkpoint folders a crash left half-written; returns what was removed."""
    removed = [path for _, path, done in checkpoints(folder) if not done]
    for path in removed:
        shutil.rmtree(path)
    return removed


def remove_old_checkpoints(folder: Path, keep: int, protect: Path | None = None) -> list[Path]:
    """Delete complete checkpoints older than the newest `keep` (never `protect`); returns them.

    Only complete ones count and go: run after the newest is marked, so a complete one always remains.
    """
    complete = [path for _, path, done in checkpoints(folder) if done]
    removed = [path for path in complete[: max(len(complete) - keep, 0)] if path != protect]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def check_disk_space(folder: Path, needed_bytes: int) -> None:
    """Fail before training, not hours in, when the checkpoints and adapter will not fit."""
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise HiggsLoraError(
            f"{folder}: about {needed_bytes / 2**20:.0f} MB are needed for checkpoints and the adapter, "
            f"{free / 2**20:.0f} MB are free. Free some space, lower [train] save_total_limit, or choose "
            "another output_dir."
        )


def checkpoint_bytes(trainable_params: int) -> int:
    """Upper bound of one checkpoint: fp32 adapter weights + two fp32 Adam moments + small state."""
    return trainable_params * 4 * 3 + (1 << 20)

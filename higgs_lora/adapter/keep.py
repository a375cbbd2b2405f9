"""Keep a checkpoint: a finished run's saved step as an adapter of its own, beside the run.

A run's adapter is its last step; listening or `eval --checkpoints` may prefer an earlier one. Keeping
it writes adapters/<name>/ with that step's LoRA weights, the run's adapter_config.json (which names
the base as the recipe does, not as the local folder training loaded) and recipe.toml, so `speak`,
`eval`, `merge` and `export` take it like any adapter. The run itself is left as it is.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from higgs_lora.core.errors import HiggsLoraError, OutputExistsError
from higgs_lora.core.fileio import swap_in_folder
from higgs_lora.higgs.layouts import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from higgs_lora.training.checkpoints import checkpoints


def keep_checkpoint(
    adapter_dir: str | Path, checkpoint: str, *, name: str | None = None, force: bool = False
) -> Path:
    """Copy `adapter_dir`/checkpoints/`checkpoint` into a new adapter folder beside the run
    (default name: <run>-step-<N>); returns it. `force` replaces an existing folder of that name."""
    folder = Path(adapter_dir)
    found = {path.name: (step, done) for step, path, done in checkpoints(folder / "checkpoints")}
    if checkpoint not in found:
        known = ", ".join(found) or "none"
        raise HiggsLoraError(f"{folder}: no checkpoint {checkpoint!r} in checkpoints/ (there: {known}).")
    step, done = found[checkpoint]
    source = folder / "checkpoints" / checkpoint
    if not done or not (source / ADAPTER_WEIGHTS).is_file():
        raise HiggsLoraError(f"{source}: not a complete checkpoint (a crash interrupted writing it).")
    if not (folder / "recipe.toml").is_file() or not (folder / ADAPTER_CONFIG).is_file():
        raise HiggsLoraError(f"{folder}: the run has not finished; keep a checkpoint once it has.")
    target = folder.parent / (name or f"{folder.name}-step-{step}")
    if target.exists() and not force:
        raise OutputExistsError(f"{target} exists. Pass --force to replace it, or choose another name.")
    with tempfile.TemporaryDirectory(prefix=f".{target.name}-", dir=folder.parent) as work:
        staging = Path(work) / "adapter"
        staging.mkdir()
        shutil.copy2(source / ADAPTER_WEIGHTS, staging / ADAPTER_WEIGHTS)
        shutil.copy2(folder / ADAPTER_CONFIG, staging / ADAPTER_CONFIG)
        shutil.copy2(folder / "recipe.toml", staging / "recipe.toml")
        history = json.loads((source / "trainer_state.json").read_text(encoding="utf-8")).get(
            "log_history", []
        )
        losses = [entry["loss"] for entry in history if "loss" in entry]
        metrics = {"steps": step, "final_loss": losses[-1] if losses else None, "kept_from": str(source)}
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
        swap_in_folder(staging, target)
    return target

"""A recipe from the few choices that matter, for people who would rather pick than write TOML.

`starter_recipe` turns (data set, base, backend, GPU memory, voice cloning, steps) into the same
validated `Recipe` a hand-written file gives: the shipped recipes' settings for the card size
(recipes/single-speaker-12gb.toml up to 16 GB, single-speaker-24gb.toml above), the smoke recipe's for
the tiny model. `recipe_toml` writes it; `load_recipe` and `higgs-lora train` read it back unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from higgs_lora.core.hub import AUDIO_TOKENIZER_ID, TINY
from higgs_lora.core.recipe import validate_recipe
from higgs_lora.core.schema import Recipe

SAMPLE_TEXT = "Is this really my voice?"  # one of eval's built-in sentences

# The shipped recipes' choices, by card: what the 12 GB and 24 GB files set, and the smoke recipe's.
_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "12gb": {
        "lora": {"r": 16, "alpha": 32, "dropout": 0.05, "targets": ["attention", "audio_ffn"]},
        "data": {"min_seconds": 1.0, "max_seconds": 15.0, "eval_fraction": 0.05},
        "train": {"batch_size": 1, "grad_accumulation": 16, "learning_rate": 1e-4, "warmup_steps": 20},
    },
    "24gb": {
        "lora": {"r": 32, "alpha": 64, "dropout": 0.05, "targets": ["attention", "text_ffn", "audio_ffn"]},
        "data": {"min_seconds": 1.0, "max_seconds": 30.0, "eval_fraction": 0.05},
        "train": {"batch_size": 2, "grad_accumulation": 8, "learning_rate": 1e-4, "warmup_steps": 20},
    },
    "tiny": {
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0, "targets": ["attention", "audio_ffn", "heads"]},
        "data": {"min_seconds": 0.5, "max_seconds": 15.0, "eval_fraction": 0.17},
        "train": {"batch_size": 2, "grad_accumulation": 1, "learning_rate": 3e-3, "warmup_steps": 3},
    },
}


def starter_recipe(
    name: str,
    data: str,
    *,
    base: str = "bosonai/higgs-tts-2-3b-base",
    backend: str = "auto",
    gpu_memory_gb: float = 12,
    voice_clone: bool = False,
    max_steps: int = 500,
    samples_every: int | None = None,
    source: Path,
) -> Recipe:
    """The recipe for these choices, to be saved as `source`; `data` is relative to that file.
    `samples_every` (default: each checkpoint) is how often `[samples]` speaks while training (0: never).
    A value out of bounds raises the RecipeError `load_recipe` would give for it."""
    tiny = base == TINY
    preset = _PRESETS["tiny" if tiny else "12gb" if gpu_memory_gb <= 16 else "24gb"]
    save_steps = max(max_steps // 4, 1) if tiny else min(200, max_steps)
    every = save_steps if samples_every is None else samples_every
    raw: dict[str, Any] = {
        "name": name,
        "model": {
            "base": base,
            "backend": backend,
            "audio_tokenizer": TINY if tiny else AUDIO_TOKENIZER_ID,
            "quantization": "nf4",
        },
        "lora": dict(preset["lora"]),
        "data": {
            "path": data,
            "reference": "same_speaker" if voice_clone else "none",
            **preset["data"],
        },
        "train": {
            "max_steps": max_steps,
            **preset["train"],
            "save_steps": save_steps,
            "eval_steps": save_steps,
            "log_steps": 1 if tiny else 10,
            "seed": 7 if tiny else 42,
        },
        # Listening costs a generation per text: one sentence, short for the tiny model's noise.
        "samples": {"every_steps": every, "texts": [SAMPLE_TEXT], "max_seconds": 1.0 if tiny else 10.0}
        if every
        else {},
    }
    return validate_recipe(raw, Path(source), text="")

"""Data side: dataset formats, audio reading, the codes cache, ChatML samples, batches.

The ChatML samples and the collator import boson-multimodal (and with it transformers and
torchvision, ~4 s), so they load on first use: `dataset check` and the other data tools that only
read files start without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# `prepare` is a function and a submodule: imported eagerly so the package attribute stays the function.
from .prepare import PreparedClip, PreparedData, prepare
from .sources import Clip, Skip, read_clips

__all__ = [
    "Clip",
    "Example",
    "PreparedClip",
    "PreparedData",
    "Skip",
    "SpeechDataset",
    "TrainingCollator",
    "build_examples",
    "chatml_sample",
    "encode_example",
    "prepare",
    "read_clips",
    "reference_note",
    "split_examples",
]

_LAZY = {
    "TrainingCollator": "collate",
    "Example": "samples",
    "SpeechDataset": "samples",
    "build_examples": "samples",
    "chatml_sample": "samples",
    "encode_example": "samples",
    "reference_note": "samples",
    "split_examples": "samples",
}

if TYPE_CHECKING:
    from .collate import TrainingCollator
    from .samples import (
        Example,
        SpeechDataset,
        build_examples,
        chatml_sample,
        encode_example,
        reference_note,
        split_examples,
    )


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

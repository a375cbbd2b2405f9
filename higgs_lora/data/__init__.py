"""Data side: dataset formats, audio reading, the codes cache, training examples and their Dataset.

How an example becomes tokens and batches is the backend's (`higgs_lora.backends`). The Dataset module
loads torch on first use, so `dataset check` and the other tools that only read files start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from higgs_lora.data.prepare import PreparedClip, PreparedData, prepare_clips
from higgs_lora.data.sources import Clip, Skip, read_clips

__all__ = [
    "Clip",
    "Example",
    "PreparedClip",
    "PreparedData",
    "Skip",
    "SpeechDataset",
    "build_examples",
    "prepare_clips",
    "read_clips",
    "reference_note",
    "split_examples",
]

_LAZY = {
    "Example": "samples",
    "SpeechDataset": "samples",
    "build_examples": "samples",
    "reference_note": "samples",
    "split_examples": "samples",
}

if TYPE_CHECKING:
    from higgs_lora.data.samples import SpeechDataset, build_examples, reference_note, split_examples
    from higgs_lora.higgs.examples import Example


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

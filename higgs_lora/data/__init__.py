"""Data side: dataset formats, audio reading, the codes cache, ChatML samples, batches."""

from .collate import TrainingCollator
from .prepare import PreparedClip, PreparedData, prepare
from .samples import (
    Example,
    SpeechDataset,
    build_examples,
    chatml_sample,
    encode_example,
    reference_note,
    split_examples,
)
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

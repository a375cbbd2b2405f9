"""Train/eval leakage: held-out clips whose audio or sentence also appears in the training split.

A repeated clip or sentence in the eval split measures memory, not the voice: a real Higgs fine-tune
found 13-32 % of its eval clips overlapping. `prepare` and `dataset check` report it, they fix nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from higgs_lora.data.split import held_out_indices

T = TypeVar("T")


def sentence_key(text: str) -> str:
    """A transcript without case, punctuation or spacing: "Hello, there!" == "hello there"."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", folded).split())


@dataclass(frozen=True)
class Leakage:
    eval_clips: int
    same_audio: list[str]
    """`where` of each eval clip whose audio matches a training clip's."""
    same_text: list[str]
    """`where` of each eval clip whose sentence (see `sentence_key`) a training clip also says."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "eval_clips": self.eval_clips,
            "same_audio": len(self.same_audio),
            "same_text": len(self.same_text),
            "same_audio_share": round(len(self.same_audio) / max(self.eval_clips, 1), 4),
            "same_text_share": round(len(self.same_text) / max(self.eval_clips, 1), 4),
            "same_audio_clips": self.same_audio,
            "same_text_clips": self.same_text,
        }

    def summary(self) -> str | None:
        """One line when the eval split overlaps the training split, else None."""
        if not self.same_audio and not self.same_text:
            return None
        n = max(self.eval_clips, 1)
        return (
            f"train/eval leakage: of {self.eval_clips} eval clips, {len(self.same_audio)} "
            f"({len(self.same_audio) / n:.0%}) have the same audio as a training clip and "
            f"{len(self.same_text)} ({len(self.same_text) / n:.0%}) repeat a training sentence "
            f"(first: {(self.same_audio or self.same_text)[0]}); the eval loss then measures memory. "
            "Remove the repeats from the data set (`higgs-lora dataset check --json` lists them)."
        )


def find_leakage(
    clips: Sequence[T],
    audio_key: Any,
    text: Any,
    where: Any,
    eval_fraction: float,
    seed: int,
) -> Leakage:
    """Split `clips` as training does (`held_out_indices`, same fraction and seed) and compare the halves.

    `audio_key(clip)` identifies its audio (equal keys = same audio), `text(clip)` is its transcript,
    `where(clip)` names it in the report."""
    held = held_out_indices(len(clips), eval_fraction, seed)
    train = [c for i, c in enumerate(clips) if i not in held]
    held_out = [c for i, c in enumerate(clips) if i in held]
    audio = {audio_key(c) for c in train}
    sentences = {sentence_key(text(c)) for c in train} - {""}
    return Leakage(
        len(held_out),
        [where(c) for c in held_out if audio_key(c) in audio],
        [where(c) for c in held_out if sentence_key(text(c)) in sentences],
    )

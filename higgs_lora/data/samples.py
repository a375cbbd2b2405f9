"""Prepared clips → training examples (text, codes, optional reference), their split, and a torch Dataset.

How an example becomes tokens is the backend's (`Backend.encode_example`); every backend prompts it
the way Higgs is prompted at inference: system prompt / user text / assistant audio, with an optional
voice-cloning prefix of user reference transcript / assistant reference audio. Only the target audio
and its control tokens are labels; the reference audio is context, never a target.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from torch.utils.data import Dataset

from higgs_lora.data.prepare import PreparedClip
from higgs_lora.data.split import held_out_indices
from higgs_lora.higgs.examples import Example

if TYPE_CHECKING:
    from higgs_lora.backends.base import Backend


def build_examples(clips: list[PreparedClip], reference: str, seed: int) -> list[Example]:
    """Attach references: from the manifest, another clip of the same speaker, or none."""
    if reference == "none":
        return [Example(item.clip.text, item.codes) for item in clips]
    if reference == "manifest":
        return [Example(item.clip.text, item.codes, item.clip.ref_text, item.ref_codes) for item in clips]
    rng = random.Random(seed)
    by_speaker: dict[str | None, list[PreparedClip]] = {}
    for item in clips:
        by_speaker.setdefault(item.clip.speaker, []).append(item)
    examples = []
    for item in clips:
        others = [other for other in by_speaker[item.clip.speaker] if other is not item]
        ref = rng.choice(others) if others else None
        examples.append(
            Example(item.clip.text, item.codes, ref.clip.text if ref else None, ref.codes if ref else None)
        )
    return examples


def reference_note(clips: list[PreparedClip], reference: str) -> str | None:
    """What `reference = "same_speaker"` does on this data when clips carry no speaker label: they
    are all one speaker to it. Right for a single-voice data set, wrong for a mixed one: say so."""
    if reference != "same_speaker":
        return None
    unlabelled = sum(1 for item in clips if item.clip.speaker is None)
    if not unlabelled:
        return None
    if unlabelled == len(clips):
        what = f"no clip has a speaker label, so all {len(clips)} clips are treated as one speaker"
    else:
        what = f"{unlabelled} of {len(clips)} clips have no speaker label and are treated as one speaker"
    return (
        f'[data] reference = "same_speaker": {what} (fine for one voice; for several, give each row a '
        '"speaker" in a JSONL manifest).'
    )


def split_examples(
    examples: list[Example], eval_fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Deterministic train/eval split; at least one eval example when eval_fraction > 0 and n >= 2."""
    held_out = held_out_indices(len(examples), eval_fraction, seed)
    if not held_out:
        return examples, []
    train = [e for i, e in enumerate(examples) if i not in held_out]
    return train, [e for i, e in enumerate(examples) if i in held_out]


class SpeechDataset(Dataset):
    """Examples encoded on access by the backend (codes are read from the cache: memory stays small)."""

    def __init__(self, examples: list[Example], text_tokenizer, system_prompt: str, backend: Backend) -> None:
        self.examples = examples
        self.text_tokenizer = text_tokenizer
        self.system_prompt = system_prompt
        self.backend = backend

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Any:
        return self.backend.encode_example(self.examples[index], self.text_tokenizer, self.system_prompt)

    def lengths(self, num_codebooks: int) -> list[int]:
        """Sequence length of each example once its audio is expanded (for length bucketing).

        Read from the cache files' headers and the tokenized prompt; no codes are loaded."""
        if getattr(self, "_lengths", None) is None:
            self._lengths = [
                self.backend.example_length(example, self.text_tokenizer, self.system_prompt, num_codebooks)
                for example in self.examples
            ]
        return self._lengths

"""Prepared clips → ChatML samples the way Higgs is prompted at inference, and a torch Dataset.

Layout (boson-multimodal examples/generation.py): system prompt / user text / assistant audio, with an
optional voice-cloning prefix of user reference transcript / assistant reference audio. `start_index`
points at the target assistant turn, so only the target audio and its control tokens are labels; the
reference audio is context, never a target.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch
from boson_multimodal.data_types import AudioContent, ChatMLSample, Message
from boson_multimodal.dataset.chatml_dataset import ChatMLDatasetSample, prepare_chatml_sample
from torch.utils.data import Dataset

from ..errors import DataError
from .cache import codes_frames, load_codes
from .prepare import PreparedClip


@dataclass(frozen=True)
class Example:
    """One training example: text to speak, its codes, and an optional reference (codes + transcript)."""

    text: str
    codes: Path
    ref_text: str | None = None
    ref_codes: Path | None = None


def chatml_sample(
    text: str, system_prompt: str, ref_text: str | None = None, with_target: bool = True
) -> ChatMLSample:
    """The ChatML conversation for one example; audio contents are placeholders filled from the cache.

    `with_target=False` gives the inference prompt (the same turns, ending after the user's text).
    """
    messages = [Message("system", system_prompt)]
    if ref_text is not None:
        messages += [Message("user", ref_text), Message("assistant", AudioContent(audio_url="reference"))]
    messages.append(Message("user", text))
    if with_target:
        messages.append(Message("assistant", AudioContent(audio_url="target")))
    return ChatMLSample(messages=messages, start_index=len(messages) - 1)


def tokenize_chatml(sample: ChatMLSample, text_tokenizer) -> tuple[list[int], list[int], list, object]:
    """boson's `prepare_chatml_sample`, with its failures raised instead of returned.

    It catches every exception itself, prints it and returns four Nones (chatml_dataset.py ~L250),
    which would surface later as a confusing TypeError: every caller goes through here instead.
    """
    input_tokens, label_tokens, audio_contents, speaker = prepare_chatml_sample(sample, text_tokenizer)
    if input_tokens is None:
        text = next((m.content for m in reversed(sample.messages) if isinstance(m.content, str)), "")
        raise DataError(
            f"could not tokenize the conversation for {text!r} with this text tokenizer (boson-multimodal's "
            "prepare_chatml_sample printed why, above). Check the text and the tokenizer of [model] base."
        )
    return input_tokens, label_tokens, audio_contents, speaker


def encode_example(example: Example, text_tokenizer, system_prompt: str) -> ChatMLDatasetSample:
    """Tokenize the conversation and attach the cached codes in the order the placeholders appear."""
    sample = chatml_sample(example.text, system_prompt, example.ref_text)
    input_tokens, label_tokens, audio_contents, _ = tokenize_chatml(sample, text_tokenizer)
    by_name = {"reference": example.ref_codes, "target": example.codes}
    codes = [load_codes(by_name[content.audio_url]) for content in audio_contents]
    lengths = torch.tensor([c.shape[1] for c in codes], dtype=torch.long)
    return ChatMLDatasetSample(
        input_ids=torch.tensor(input_tokens, dtype=torch.long),
        label_ids=torch.tensor(label_tokens, dtype=torch.long),
        audio_ids_concat=torch.cat(codes, dim=1),
        audio_ids_start=torch.cumsum(lengths, 0) - lengths,
        audio_waveforms_concat=torch.zeros(0),
        audio_waveforms_start=torch.zeros(0, dtype=torch.long),
        audio_sample_rate=torch.zeros(0),
        audio_speaker_indices=torch.zeros(0, dtype=torch.long),
    )


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


def split_examples(examples: list[Example], eval_fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Deterministic train/eval split; at least one eval example when eval_fraction > 0 and n >= 2."""
    if eval_fraction <= 0 or len(examples) < 2:
        return examples, []
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_eval = max(1, round(eval_fraction * len(examples)))
    held_out = set(order[:n_eval])
    train = [e for i, e in enumerate(examples) if i not in held_out]
    return train, [e for i, e in enumerate(examples) if i in held_out]


class SpeechDataset(Dataset):
    """Examples encoded on access (codes are read from the cache, so memory stays small)."""

    def __init__(self, examples: list[Example], text_tokenizer, system_prompt: str) -> None:
        self.examples = examples
        self.text_tokenizer = text_tokenizer
        self.system_prompt = system_prompt

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> ChatMLDatasetSample:
        return encode_example(self.examples[index], self.text_tokenizer, self.system_prompt)

    def lengths(self, num_codebooks: int) -> list[int]:
        """Sequence length of each example once its audio is expanded (for length bucketing).

        Read from the cache files' headers and the tokenized prompt; no codes are loaded."""
        if getattr(self, "_lengths", None) is None:
            self._lengths = [self._length(example, num_codebooks) for example in self.examples]
        return self._lengths

    def _length(self, example: Example, num_codebooks: int) -> int:
        sample = chatml_sample(example.text, self.system_prompt, example.ref_text)
        tokens, _, audio_contents, _ = tokenize_chatml(sample, self.text_tokenizer)
        paths = {"reference": example.ref_codes, "target": example.codes}
        # each placeholder token becomes its frames + stream BOS/EOS + the delay pattern's tail
        frames = sum(codes_frames(paths[c.audio_url]) + 2 + num_codebooks - 1 - 1 for c in audio_contents)
        return len(tokens) + frames

"""Higgs TTS 3's prompt and training batches: one row per example, audio frames as table-summed rows.

The prompt (sglang-omni `sglang_omni/models/higgs_tts/text_tokenizer.py` `build_prompt`):
    <|tts|> [<|ref_text|> ref text] [<|ref_audio|> R delayed reference rows] <|text|> text <|audio|>
then, in training, the target's delayed rows. A clip of T frames becomes T + C - 1 rows by the delay
pattern (`codebook_layout.py` `apply_delay_pattern`): codebook c is shifted right by c, BOC (1024)
before, EOC (1025) after; unlike Higgs v2 there is no BOS/EOS column around it. Each audio row's input
embedding is the sum of its C table rows (`model.FusedAudioTable.embed`).

Targets: the logits at `<|audio|>` predict target row 0 and those at target row j predict row j + 1
(sglang-omni's `sampler.py` starts from the prompt's last position and feeds each sampled row back).
BOC fill is not a target (generation forces it: `sampler.step`), EOC is: codebook 0's EOC at row T is
the stop signal. The reference and the prompt text are no targets; there is no text target at all.
`label_audio_ids` is laid out as `higgs_loss` shifts it: one column per audio-out position
(`<|audio|>` + the target rows), the first all -100, column j + 1 the targets of position j.

Torch only (no transformers import): the collator runs in data-loader workers, and is pickled there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from higgs_lora.higgs.chatml import IGNORE
from higgs_lora.higgs.delay import apply_delay
from higgs_lora.higgs.examples import codes_frames, load_codes

TOKENS_NEEDED = ("<|tts|>", "<|ref_text|>", "<|ref_audio|>", "<|text|>", "<|audio|>")
BOC = 1024
EOC = 1025
ROUND_TO = 8


def token_ids(text_tokenizer: Any) -> dict[str, int]:
    """The prompt's special tokens in this tokenizer (each must be one token)."""
    ids = {}
    for name in TOKENS_NEEDED:
        encoded = text_tokenizer.encode(name, add_special_tokens=False)
        if len(encoded) != 1:
            from higgs_lora.core.errors import ModelError

            raise ModelError(
                f"the text tokenizer has no single token for {name}: not a Higgs TTS 3 tokenizer"
            )
        ids[name] = encoded[0]
    return ids


def delayed(codes: torch.Tensor, num_codebooks: int) -> torch.Tensor:
    """Codes `[C, T]` → the rows the model reads, `[T + C - 1, C]` (BOC before, EOC after)."""
    return apply_delay(codes[:num_codebooks].long(), BOC, EOC).T


def delayed_labels(codes: torch.Tensor, num_codebooks: int) -> torch.Tensor:
    """The targets of `delayed(codes)`, `[C, T + C - 1]`: BOC fill masked, EOC kept."""
    rows = apply_delay(codes[:num_codebooks].long(), IGNORE, EOC)
    return rows


def prompt_parts(
    text: str, ref_text: str | None, has_reference: bool, text_tokenizer: Any
) -> tuple[list[int], list[int]]:
    """(tokens before the reference rows, tokens after them): `build_prompt` split at `[-100] × R`."""
    ids = token_ids(text_tokenizer)
    before = [ids["<|tts|>"]]
    if has_reference and ref_text:
        before += [ids["<|ref_text|>"], *text_tokenizer.encode(ref_text, add_special_tokens=False)]
    if has_reference:
        before.append(ids["<|ref_audio|>"])
    after = [ids["<|text|>"], *text_tokenizer.encode(text, add_special_tokens=False), ids["<|audio|>"]]
    return before, after


@dataclass
class Higgs3Sample:
    """One tokenized example: what `training_collator` takes (and the speaker builds without target)."""

    before: list[int]
    """Tokens up to and including `<|ref_audio|>` (or just `<|tts|>`)."""
    after: list[int]
    """`<|text|>` text `<|audio|>`."""
    reference: torch.Tensor | None
    """Reference codes `[C, frames]`, or None."""
    target: torch.Tensor | None
    """Target codes `[C, frames]`, or None (a generation prompt)."""


def encode_example(example: Any, text_tokenizer: Any) -> Higgs3Sample:
    """A `data.samples.Example` (text, codes, ref_text, ref_codes) → tokens and cached codes."""
    has_reference = example.ref_codes is not None
    before, after = prompt_parts(example.text, example.ref_text, has_reference, text_tokenizer)
    reference = load_codes(Path(example.ref_codes)) if has_reference else None
    return Higgs3Sample(before, after, reference, load_codes(Path(example.codes)))


def example_length(example: Any, text_tokenizer: Any, codebooks: int) -> int:
    """Collated length before padding, from the cache headers alone."""
    has_reference = example.ref_codes is not None
    before, after = prompt_parts(example.text, example.ref_text, has_reference, text_tokenizer)
    rows = codes_frames(Path(example.codes)) + codebooks - 1
    if has_reference:
        rows += codes_frames(Path(example.ref_codes)) + codebooks - 1
    return len(before) + len(after) + rows


class Higgs3Collator:
    """Samples → the batch `HiggsMultimodalQwen3ForConditionalGeneration.forward` takes, plus `label_audio_ids [C, N]`.

    Keys (all `[B, L]` unless said, right-padded to a multiple of `round_to`): `input_ids` (pad where
    an audio row sits), `attention_mask`, `position_ids`, `audio_ids [B, L, C]` (the rows' codes),
    `audio_mask` (audio rows), `audio_out_mask` (`<|audio|>` and the target rows), `label_ids` (all
    -100), `label_audio_ids [C, N]`. Holds only ints, so it pickles into loader workers.
    """

    def __init__(self, num_codebooks: int, pad_token: int, round_to: int = ROUND_TO) -> None:
        self.num_codebooks = num_codebooks
        self.pad_token = pad_token
        self.round_to = round_to

    def row(self, sample: Higgs3Sample) -> dict[str, torch.Tensor]:
        """One sample's unpadded row."""
        c = self.num_codebooks
        pieces: list[tuple[torch.Tensor, torch.Tensor | None, bool]] = [  # (tokens, audio rows, out)
            (torch.tensor(sample.before), None, False)
        ]
        if sample.reference is not None:
            ref = delayed(sample.reference, c)
            pieces.append((torch.full((len(ref),), self.pad_token), ref, False))
        after = torch.tensor(sample.after)
        pieces.append((after[:-1], None, False))
        pieces.append((after[-1:], None, sample.target is not None))  # <|audio|>: predicts row 0
        labels = [torch.full((c, 1), IGNORE)]
        if sample.target is not None:
            target = delayed(sample.target, c)
            pieces.append((torch.full((len(target),), self.pad_token), target, True))
            labels.append(delayed_labels(sample.target, c))
        ids = torch.cat([tokens for tokens, _, _ in pieces])
        audio = torch.cat(
            [rows if rows is not None else torch.zeros(len(t), c, dtype=torch.long) for t, rows, _ in pieces]
        )
        audio_mask = torch.cat([torch.full((len(t),), rows is not None) for t, rows, _ in pieces])
        out_mask = torch.cat([torch.full((len(t),), out) for t, _, out in pieces])
        return {
            "ids": ids,
            "audio": audio,
            "audio_mask": audio_mask,
            "out_mask": out_mask,
            "labels": torch.cat(labels, 1)
            if sample.target is not None
            else torch.zeros(c, 0, dtype=torch.long),
        }

    def __call__(self, samples: list[Higgs3Sample]) -> dict[str, torch.Tensor]:
        rows = [self.row(s) for s in samples]
        longest = max(len(r["ids"]) for r in rows)
        length = (longest + self.round_to - 1) // self.round_to * self.round_to
        batch = len(rows)
        input_ids = torch.full((batch, length), self.pad_token, dtype=torch.long)
        attention_mask = torch.zeros(batch, length, dtype=torch.long)
        audio_ids = torch.zeros(batch, length, self.num_codebooks, dtype=torch.long)
        audio_mask = torch.zeros(batch, length, dtype=torch.bool)
        audio_out_mask = torch.zeros(batch, length, dtype=torch.bool)
        for i, r in enumerate(rows):
            n = len(r["ids"])
            input_ids[i, :n] = r["ids"]
            attention_mask[i, :n] = 1
            audio_ids[i, :n] = r["audio"]
            audio_mask[i, :n] = r["audio_mask"]
            audio_out_mask[i, :n] = r["out_mask"]
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "position_ids": position_ids,
            "audio_ids": audio_ids,
            "audio_mask": audio_mask,
            "audio_out_mask": audio_out_mask,
            "label_ids": torch.full((batch, length), IGNORE, dtype=torch.long),
            "label_audio_ids": torch.cat([r["labels"] for r in rows], 1),
        }


def probe_batch(config: Any, text_tokenizer: Any, device: Any) -> dict[str, Any]:
    """The merge check's fixed batch: a reference and a target of 12 seeded random frames each,
    `label_audio_ids` removed (as the other backends build it)."""
    generator = torch.Generator().manual_seed(0)
    codes = torch.randint(0, BOC, (config.num_codebooks, 24), generator=generator)
    before, after = prompt_parts("A probe sentence for the merge check.", "Ref.", True, text_tokenizer)
    sample = Higgs3Sample(before, after, codes[:, :12], codes[:, 12:])
    batch = Higgs3Collator(config.num_codebooks, pad_token_of(config))([sample])
    batch.pop("label_audio_ids")
    return {key: value.to(device) for key, value in batch.items()}


def pad_token_of(config: Any) -> int:
    pad = getattr(config, "pad_token_id", None)
    if pad is None:
        pad = getattr(config.text_config, "pad_token_id", None)
    return int(pad) if pad is not None else 151643  # <|endoftext|>

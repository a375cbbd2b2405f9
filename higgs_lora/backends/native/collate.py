"""Examples → native training batches: the boson collator's audio layout, written out as the expanded row.

boson's `HiggsAudioSampleCollator` (data_collator/higgs_audio_collator.py) wraps each audio segment in
the delay pattern and labels it as `higgs.delay` restates; boson's model then expands each placeholder token to its segment's frames
(`merge_input_ids_with_audio_features`). The native model takes that expanded row directly: one
`audio_token_id` per frame, and the frames' codes as `audio_input_ids [B, frames, C]` in row order
(`benchmarks/native_equivalence.py` proves the two give bit-identical logits). So a segment of T
frames takes T + C + 1 positions. Only the target turn's audio is a target; the stream EOS is one
(the stop signal), the BOS column and the delay fill before it are not, nor is the reference clip.

Torch only (no transformers import): the collator runs in data-loader workers, and is pickled there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from higgs_lora.higgs.chatml import IGNORE, chatml_tokens
from higgs_lora.higgs.delay import stream, stream_labels, stream_length
from higgs_lora.higgs.examples import codes_frames, load_codes

AUDIO_IN_TOKEN = 128015
"""`<|AUDIO|>`: a user/system audio placeholder. The native config knows only the audio-out id."""
ROUND_TO = 8


@dataclass
class NativeSample:
    """One tokenized example before expansion: what `training_collator` takes."""

    input_ids: torch.Tensor
    """Text tokens `[T]`, one placeholder per audio segment."""
    label_ids: torch.Tensor
    """`[T]`, -100 where not a text target (boson's `label_tokens`)."""
    audio: list[torch.Tensor]
    """Codes `[C, frames]` per placeholder, in order."""


def encode_example(example: Any, text_tokenizer: Any, system_prompt: str) -> NativeSample:
    """A `data.samples.Example` (text, codes, ref_text, ref_codes) → tokens and cached codes."""
    tokens, labels, names = chatml_tokens(example.text, system_prompt, example.ref_text, text_tokenizer)
    paths = {"reference": example.ref_codes, "target": example.codes}
    return NativeSample(
        torch.tensor(tokens, dtype=torch.long),
        torch.tensor(labels, dtype=torch.long),
        [load_codes(Path(paths[name])) for name in names],
    )


def example_length(example: Any, text_tokenizer: Any, system_prompt: str, codebooks: int) -> int:
    """Collated length before padding, from the cache headers: each placeholder → its expanded stream."""
    tokens, _, names = chatml_tokens(example.text, system_prompt, example.ref_text, text_tokenizer)
    paths = {"reference": example.ref_codes, "target": example.codes}
    return len(tokens) + sum(stream_length(codes_frames(Path(paths[name])), codebooks) - 1 for name in names)


class NativeCollator:
    """Samples → the batch `NativeHiggsForLoRA.forward` takes, plus `label_audio_ids [C, N]`.

    Keys: `input_ids`, `attention_mask`, `position_ids`, `label_ids` (all `[B, L]`, right-padded to a
    multiple of 8), `audio_out_mask [B, L]`, `audio_input_ids [B, F, C]`, `audio_input_ids_mask
    [B, F]`, `label_audio_ids [C, N]` (N = audio-out positions of the batch, row-major). Holds only
    ints, so it pickles into loader workers.
    """

    def __init__(self, config: Any, round_to: int = ROUND_TO) -> None:
        self.num_codebooks = int(config.num_codebooks)
        self.stream_bos = int(config.audio_stream_bos_id)
        self.stream_eos = int(config.audio_stream_eos_id)
        self.audio_out_token = int(config.audio_token_id)
        self.pad_token = int(config.pad_token_id)
        self.round_to = round_to

    def segment(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes `[C, T]` → the frames the model reads, `[C, T + C + 1]` (`higgs.delay.stream`)."""
        return stream(codes[: self.num_codebooks], self.stream_bos, self.stream_eos)

    def segment_labels(self, codes: torch.Tensor) -> torch.Tensor:
        """`[-100 | codes | EOS]`, delayed with -100 fill: the EOS is a target, the BOS column is not."""
        return stream_labels(codes[: self.num_codebooks], self.stream_eos)

    def expand(self, sample: NativeSample) -> dict[str, Any]:
        """One sample's expanded row (unpadded)."""
        ids: list[int] = []
        labels: list[int] = []
        audio_out: list[bool] = []
        frames: list[torch.Tensor] = []
        label_audio: list[torch.Tensor] = []
        segments = iter(sample.audio)
        for token, label in zip(sample.input_ids.tolist(), sample.label_ids.tolist(), strict=True):
            if token not in (self.audio_out_token, AUDIO_IN_TOKEN):
                ids.append(token)
                labels.append(label)
                audio_out.append(False)
                continue
            codes = next(segments)
            delayed = self.segment(codes)
            width = delayed.shape[1]
            ids += [self.audio_out_token] * width
            labels += [IGNORE] * width
            audio_out += [token == self.audio_out_token] * width
            frames.append(delayed.T)
            if token == self.audio_out_token:
                # boson: an audio-out whose placeholder is unlabelled (the reference) has no targets.
                trained = label != IGNORE
                label_audio.append(
                    self.segment_labels(codes) if trained else torch.full((delayed.shape[0], width), IGNORE)
                )
        empty = torch.zeros(0, self.num_codebooks, dtype=torch.long)
        return {
            "ids": ids,
            "labels": labels,
            "audio_out": audio_out,
            "frames": torch.cat(frames) if frames else empty,
            "label_audio": torch.cat(label_audio, 1) if label_audio else empty.T,
        }

    def __call__(self, samples: list[NativeSample]) -> dict[str, torch.Tensor]:
        rows = [self.expand(s) for s in samples]
        longest = max(len(r["ids"]) for r in rows)
        length = (longest + self.round_to - 1) // self.round_to * self.round_to
        most_frames = max(r["frames"].shape[0] for r in rows)
        batch_size = len(rows)
        input_ids = torch.full((batch_size, length), self.pad_token, dtype=torch.long)
        label_ids = torch.full((batch_size, length), IGNORE, dtype=torch.long)
        attention_mask = torch.zeros(batch_size, length, dtype=torch.long)
        audio_out_mask = torch.zeros(batch_size, length, dtype=torch.bool)
        audio_input_ids = torch.zeros(batch_size, most_frames, self.num_codebooks, dtype=torch.long)
        audio_input_ids_mask = torch.zeros(batch_size, most_frames, dtype=torch.bool)
        for i, row in enumerate(rows):
            n = len(row["ids"])
            input_ids[i, :n] = torch.tensor(row["ids"])
            label_ids[i, :n] = torch.tensor(row["labels"])
            attention_mask[i, :n] = 1
            audio_out_mask[i, :n] = torch.tensor(row["audio_out"])
            f = row["frames"].shape[0]
            audio_input_ids[i, :f] = row["frames"]
            audio_input_ids_mask[i, :f] = True
        # boson's merge_input_ids_with_audio_features (utils.py ~L423): positions count real tokens only.
        position_ids = (attention_mask.cumsum(-1) - 1).masked_fill(attention_mask == 0, 1)
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "position_ids": position_ids,
            "audio_input_ids": audio_input_ids,
            "audio_input_ids_mask": audio_input_ids_mask,
            "audio_out_mask": audio_out_mask,
            "label_ids": label_ids,
            "label_audio_ids": torch.cat([r["label_audio"] for r in rows], 1),
        }


def probe_batch(config: Any, text_tokenizer: Any, device: Any) -> dict[str, Any]:
    """The merge check's fixed batch, as the boson backend builds it (`merge.probe_batch`): a reference
    and a target of 12 seeded random frames each, `label_audio_ids` removed."""
    generator = torch.Generator().manual_seed(0)
    codes = torch.randint(
        0, int(config.codebook_size) - 2, (int(config.num_codebooks), 24), generator=generator
    )
    tokens, labels, _ = chatml_tokens(
        "A probe sentence for the merge check.",
        "Generate audio following instruction.",
        "Ref.",
        text_tokenizer,
    )
    sample = NativeSample(torch.tensor(tokens), torch.tensor(labels), [codes[:, :12], codes[:, 12:]])
    batch = NativeCollator(config)([sample])
    batch.pop("label_audio_ids")
    return {key: value.to(device) for key, value in batch.items()}

"""The Higgs TTS loss: shifted text CE + shifted audio CE over all codebooks (HIGGS_NOTES §6).

`HiggsAudioModel.forward` computes no loss and shifts nothing: `expanded_labels[:, t]` is token t and
`label_audio_ids[:, j]` is audio frame j. Logits at position t therefore predict label t+1. For audio,
one shift over the concatenated audio-out stream is exact because every segment starts with an
all -100 column (the stream BOS), so no frame predicts across a segment boundary. The stream EOS
(codebook_size+1) stays a target: it is how the model learns to stop. Reference audio and padding
are -100 and drop out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

IGNORE = -100


@dataclass
class HiggsLoss:
    total: torch.Tensor
    text: torch.Tensor
    audio: torch.Tensor
    per_codebook: torch.Tensor
    """Mean CE per codebook `[num_codebooks]` (NaN for a codebook without targets)."""
    text_targets: int
    audio_targets: int


def higgs_loss(
    logits: torch.Tensor,
    expanded_labels: torch.Tensor,
    audio_logits: torch.Tensor,
    label_audio_ids: torch.Tensor,
    text_loss_weight: float = 1.0,
    text_head: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> HiggsLoss:
    """`logits [B, L, V]`, `expanded_labels [B, L]`, `audio_logits [N, C, K]`, `label_audio_ids [C, N]`.

    With `text_head` (see `model.lean`), `logits` are the final hidden states `[B, L, H]` and the head
    is applied here, to the labelled rows only.
    """
    text, text_targets = _shifted_text_ce(logits, expanded_labels, text_head)
    audio, per_codebook, audio_targets = _shifted_audio_ce(audio_logits, label_audio_ids)
    return HiggsLoss(audio + text_loss_weight * text, text, audio, per_codebook, text_targets, audio_targets)


def _shifted_text_ce(
    logits: torch.Tensor, labels: torch.Tensor, head: Callable[[torch.Tensor], torch.Tensor] | None
) -> tuple[torch.Tensor, int]:
    targets = labels[:, 1:]
    keep = targets != IGNORE
    # Select the few labelled positions before the head and the upcast: TTS has a handful of text
    # targets per sample, and [B, L, 128256] logits (or a float32 copy) would dwarf everything else.
    chosen = logits[:, :-1][keep]
    if head is not None:
        chosen = head(chosen)
    if chosen.shape[0] == 0:  # still part of the graph, so every process's backward is the same
        return chosen.sum() * 0.0, 0
    return F.cross_entropy(chosen.float(), targets[keep]), int(keep.sum())


def _shifted_audio_ce(
    audio_logits: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, int]:
    num_codebooks = labels.shape[0]
    if audio_logits is None or audio_logits.shape[0] < 2:
        zero = torch.zeros((), device=labels.device)
        return zero, torch.full((num_codebooks,), float("nan")), 0
    predictions = audio_logits[:-1].float()  # [N-1, C, K]: frame j predicts frame j+1
    targets = labels[:, 1:].T  # [N-1, C]
    per_token = F.cross_entropy(
        predictions.reshape(-1, predictions.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE,
        reduction="none",
    ).view_as(targets)
    valid = (targets != IGNORE).to(per_token.dtype)
    count = valid.sum()
    audio = (per_token * valid).sum() / count.clamp(min=1)
    per_codebook = (per_token * valid).sum(0) / valid.sum(0)
    return audio, per_codebook.detach(), int(count)

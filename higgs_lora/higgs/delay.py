"""The delay pattern, written once for every backend.

Each audio segment is wrapped `[BOS | codes | EOS]` and codebook k is shifted right by k (BOS fills the
left, EOS the right): `build_delay_pattern_mask` in boson_multimodal/model/higgs_audio/utils.py. Its
labels are `[-100 | codes | EOS]` delayed the same way with -100 fill: the stream EOS is a target (the
stop signal), the BOS column and the delay fill are not. The boson backend's training collator is
boson's own (the oracle a test holds the native collation to); everything else uses these functions.
"""

from __future__ import annotations

import torch

from higgs_lora.higgs.chatml import IGNORE


def apply_delay(codes: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """`[C, T]` → `[C, T + C - 1]`: row k shifted right by k, `before` on its left, `after` on its right."""
    num_codebooks, frames = codes.shape
    out = torch.full((num_codebooks, frames + num_codebooks - 1), after, dtype=codes.dtype)
    for k in range(num_codebooks):
        out[k, :k] = before
        out[k, k : k + frames] = codes[k]
    return out


def revert_delay(delayed: torch.Tensor) -> torch.Tensor:
    """The inverse of `apply_delay`: `[C, T + C - 1]` → `[C, T]`."""
    num_codebooks, width = delayed.shape
    frames = width - num_codebooks + 1
    return torch.stack([delayed[k, k : k + frames] for k in range(num_codebooks)])


def stream(codes: torch.Tensor, bos: int, eos: int) -> torch.Tensor:
    """Codes `[C, T]` → the frames the model reads, `[C, T + C + 1]` (BOS, codes, EOS, delayed)."""
    codes = codes.long()
    return apply_delay(torch.cat([_column(codes, bos), codes, _column(codes, eos)], 1), bos, eos)


def stream_labels(codes: torch.Tensor, eos: int) -> torch.Tensor:
    """The targets of `stream(codes)`: `[-100 | codes | EOS]`, delayed with -100 fill."""
    codes = codes.long()
    return apply_delay(torch.cat([_column(codes, IGNORE), codes, _column(codes, eos)], 1), IGNORE, IGNORE)


def stream_length(frames: int, num_codebooks: int) -> int:
    """Positions one segment of `frames` takes once expanded: BOS and EOS, plus the delay's C - 1."""
    return frames + num_codebooks + 1


def generation_steps(frames: int, num_codebooks: int) -> int:
    """Steps to generate a stream whose first `frames` frames are complete in every codebook: the BOS
    column, the frames, and the delay's C - 1 (codebook C - 1 writes frame T at step T + C - 1). The
    EOS, where the model chooses one within them, lands in the lower codebooks of the last steps."""
    return frames + num_codebooks


def spoken_codes(delayed: torch.Tensor, codebook_size: int, eos: int) -> torch.Tensor:
    """A generated stream `[C, W]` (its first column the stream BOS, delayed) → the codes to decode `[C, T]`.

    T is the frames between the BOS frame and the first frame that holds the stream EOS in any codebook,
    reverted from the delay pattern; codes past the codebook (a stray BOS id) are clipped into it.
    - stopped: `[BOS | codes | EOS]` delayed, `W = T + C + 1`: the codes.
    - a late EOS: transformers' delay-pattern processor forces EOS into codebook k only a step after
      codebook k - 1's, so the stream can be a column wider and its EOS frame holds codebook 0's EOS
      beside codes sampled after the stop: that frame is not speech.
    - an early EOS in a higher codebook k (frame t - k): boson's engine stops the stream there, and the
      frames from t - k on are EOS in codebook k: not speech either.
    - cut by the step limit with no EOS in sight: every frame complete in all codebooks, `T = W - C`.
    - EOS at once: no frames (the caller says silence).
    boson's serve engine decodes `revert_delay_pattern(...)[:, 1:-1]`, right for a stream that stopped as
    it should, one frame short for a cut one, and one garbage frame long for a late EOS.
    """
    num_codebooks, width = delayed.shape
    if width < num_codebooks:  # not even the BOS frame is complete
        return delayed.new_zeros((num_codebooks, 0))
    frames = revert_delay(delayed)[:, 1:]
    ends = (frames == eos).any(0).nonzero()
    if len(ends):
        frames = frames[:, : int(ends[0, 0])]
    return frames.clip(0, codebook_size - 1)


def stream_stopped(delayed: torch.Tensor, eos: int) -> bool:
    """Whether the model chose to stop: the stream EOS anywhere in it (else the step limit cut it)."""
    return bool((delayed == eos).any())


def _column(codes: torch.Tensor, value: int) -> torch.Tensor:
    return torch.full((codes.shape[0], 1), value, dtype=torch.long)

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


def spoken_codes(delayed: torch.Tensor, codebook_size: int) -> torch.Tensor:
    """A generated stream `[C, T + C + 1]` (BOS, codes, EOS, delayed) → the codes to decode `[C, T]`,
    clipped into the codebook (the stream BOS/EOS ids lie past it)."""
    return revert_delay(delayed).clip(0, codebook_size - 1)[:, 1:-1]


def _column(codes: torch.Tensor, value: int) -> torch.Tensor:
    return torch.full((codes.shape[0], 1), value, dtype=torch.long)

"""One training example as every backend receives it (text, cached codes, optional reference), and how
the codes are stored: one safetensors file per clip, int16 on disk, read back as int64."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def save_codes(path: Path, codes: torch.Tensor, source: Path) -> None:
    """Codes `[num_codebooks, frames]` (values < 1026 fit int16), with the audio file they came from."""
    save_file({"codes": codes.to(torch.int16).contiguous()}, str(path), {"source": str(source)})


def load_codes(entry: Path) -> torch.Tensor:
    """Codes `[num_codebooks, frames]` as int64, ready for the collator."""
    return load_file(str(entry))["codes"].long()


def codes_frames(entry: Path) -> int:
    """Number of frames of a cache entry, from its header alone."""
    from safetensors import safe_open

    with safe_open(str(entry), "pt") as handle:
        return int(handle.get_slice("codes").get_shape()[1])


@dataclass(frozen=True)
class Example:
    """One training example: text to speak, its codes, and an optional reference (codes + transcript)."""

    text: str
    codes: Path
    ref_text: str | None = None
    ref_codes: Path | None = None

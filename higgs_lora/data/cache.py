"""On-disk cache of audio codes, keyed by file content and audio tokenizer.

Each entry is one safetensors file named after the SHA-256 of the audio bytes, in a folder named after
the tokenizer, so re-runs and later epochs never re-encode, a changed file is encoded again, and codes
from another tokenizer are never reused. Entries are written atomically.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from higgs_lora.fileio import atomic_path


class CodesCache:
    def __init__(self, root: Path, tokenizer_fingerprint: str) -> None:
        self.folder = root / re.sub(r"[^A-Za-z0-9._-]+", "_", tokenizer_fingerprint)

    def entry(self, audio: Path) -> Path:
        return self.folder / f"{file_digest(audio)}.safetensors"

    def remove_stale_temporaries(self) -> int:
        stale = list(self.folder.glob(".*.tmp")) if self.folder.is_dir() else []
        for file in stale:
            file.unlink(missing_ok=True)
        return len(stale)

    def put(self, entry: Path, codes: torch.Tensor, source: Path) -> None:
        with atomic_path(entry) as temporary:
            save_file({"codes": codes.to(torch.int16).contiguous()}, str(temporary), {"source": str(source)})


def load_codes(entry: Path) -> torch.Tensor:
    """Codes `[num_codebooks, frames]` as int64, ready for the collator."""
    return load_file(str(entry))["codes"].long()


def codes_frames(entry: Path) -> int:
    """Number of frames of a cache entry, from its header alone."""
    from safetensors import safe_open

    with safe_open(str(entry), "pt") as handle:
        return int(handle.get_slice("codes").get_shape()[1])


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:40]

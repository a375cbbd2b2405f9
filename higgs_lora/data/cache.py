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

from higgs_lora.core.fileio import atomic_path
from higgs_lora.higgs.examples import save_codes


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
            save_codes(temporary, codes, source)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:40]

"""Atomic file and folder writes: a reader (or a crash) never sees half a file or a half-built folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target` in one rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(target: Path, text: str) -> None:
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")


def swap_in_folder(staging: Path, out: Path) -> None:
    """Put the fully written folder `staging` at `out`, replacing what is there with two renames (the
    old folder is moved aside first and deleted last), so `out` is never a half-built folder. Whether
    replacing is allowed is the caller's decision, made before."""
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        staging.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(out)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def cache_home() -> Path:
    """Where the kit keeps built artefacts ($HIGGS_LORA_HOME, default ~/.cache/higgs-lora)."""
    return Path(os.environ.get("HIGGS_LORA_HOME", Path.home() / ".cache" / "higgs-lora"))

"""What a run downloads from the Hugging Face hub, at which revision, and how large it is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from higgs_lora.core.hub import SEMANTIC_TEACHER_ID, TINY, cached_spelling, is_local


@dataclass(frozen=True)
class Download:
    """One hub repo a run needs: where it comes from and what it costs."""

    repo: str
    revision: str
    role: str
    cached_bytes: int | None  # bytes already in the local hub cache (None: not cached)
    size_bytes: int | None  # total size from the hub, when it can be asked
    estimate: str = ""  # how the size is known, when it is only estimated

    def describe(self) -> str:
        short = self.revision[:8] if len(self.revision) == 40 else self.revision
        if self.cached_bytes is not None:
            size = f"cached ({_human(self.cached_bytes)})"
        elif self.size_bytes is not None:
            size = f"{_human(self.size_bytes)} to download" + (f" ({self.estimate})" if self.estimate else "")
        else:
            size = "to download (size unknown offline)"
        return f"{self.repo} @ {short:<8}  {self.role}: {size}"


def planned_downloads(config: Any, estimated_base_bytes: int | None = None) -> list[Download]:
    """Every hub repo loading `config` (a resolved setup's ModelConfig: backend decided, revisions
    filled in) touches, with revision and size."""
    wanted: list[tuple[str, str, str]] = []
    if not is_local(config.base):  # the official base under the id the cache holds it by, if any
        base = cached_spelling(config.base, config.revision)
        wanted.append((base, config.revision or "main", "model + text tokenizer"))
    if not is_local(config.audio_tokenizer):
        wanted.append((config.audio_tokenizer, config.audio_tokenizer_revision or "main", "audio tokenizer"))
    if _needs_semantic_teacher(config):
        wanted.append((config.semantic_teacher or SEMANTIC_TEACHER_ID, "main", "audio tokenizer's HuBERT"))
    downloads = []
    for repo, revision, role in wanted:
        cached = _cached_bytes(repo, revision)
        size = None if cached is not None else _hub_size(repo, revision)
        estimate = ""
        if size is None and cached is None and role.startswith("model") and estimated_base_bytes:
            size, estimate = estimated_base_bytes, "estimated from the architecture"
        downloads.append(Download(repo, revision, role, cached, size, estimate))
    return downloads


def _needs_semantic_teacher(config: Any) -> bool:
    """boson's audio tokenizer fetches its HuBERT separately; the native one ships it in its own repo."""
    if config.audio_tokenizer == TINY or (config.semantic_teacher and is_local(config.semantic_teacher)):
        return False
    return config.backend == "boson"


def describe_downloads(downloads: list[Download]) -> str:
    if not downloads:
        return "hub downloads: none (local folders)"
    return "\n".join(
        ["hub downloads (into the Hugging Face cache):"] + [f"  {d.describe()}" for d in downloads]
    )


def _cached_bytes(repo: str, revision: str) -> int | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, "config.json", revision=revision)
    if not isinstance(found, str):
        return None
    snapshot = Path(found).parent
    return sum(f.stat().st_size for f in snapshot.rglob("*") if f.is_file())


def _hub_size(repo: str, revision: str) -> int | None:
    """Total file size from the hub's metadata; None offline or when the hub cannot be reached."""
    from huggingface_hub import HfApi, constants

    if constants.HF_HUB_OFFLINE:
        return None
    try:
        info = HfApi().model_info(repo, revision=revision, files_metadata=True, timeout=10)
    except (OSError, ValueError) as err:  # requests' errors are OSErrors; a bad id is a ValueError
        import logging

        logging.getLogger(__name__).info("no size for %s@%s: %s", repo, revision, err)
        return None
    return sum(sibling.size or 0 for sibling in info.siblings or [])


def _human(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"

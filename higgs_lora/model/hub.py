"""What the kit fetches from the Hugging Face hub, at which revision, and whether boson-multimodal reads it.

On 2026-04-04 Boson rewrote `main` of the official checkpoint and audio tokenizer to the
transformers-native layout (`model_type` "higgs_audio_v2", a flat config; the tokenizer repo without
`model.pth`), which boson-multimodal cannot load (HIGGS_NOTES §12). The recipe pins the official ids
to their last boson-layout snapshots (`recipe.PINNED_REVISIONS`); this module checks, from
`config.json` alone and before any heavy work, that what a recipe names is in the layout this
backend reads, and says what will be downloaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from higgs_lora.errors import ModelError
from higgs_lora.recipe import PINNED_REVISIONS, TINY

SEMANTIC_TEACHER_ID = "bosonai/hubert_base"  # hard-coded in boson's HiggsAudioTokenizer (~L92)
NATIVE_MODEL_TYPES = ("higgs_audio_v2", "higgs_audio_v2_tokenizer")
# model_type in a checkpoint's config.json → the layout it is written in
MODEL_TYPE_LAYOUTS = {"higgs_audio": "boson", "higgs_audio_v2": "native"}


class LayoutError(ModelError):
    """The checkpoint or tokenizer is in a layout this backend cannot read."""


def is_local(name: str) -> bool:
    """A local folder (or the built-in tiny model): nothing is downloaded, no revision applies."""
    return name == TINY or Path(name).exists()


def read_config(name: str, revision: str | None, what: str, cached_only: bool = False) -> dict[str, Any]:
    """`config.json` of a local folder or of a hub repo at `revision` (one small download, or only the
    local cache with `cached_only`: planning never waits on an unreachable hub)."""
    if Path(name).is_dir():
        file = Path(name) / "config.json"
        if not file.is_file():
            raise ModelError(f"{what} = {name!r}: no config.json in that folder.")
    else:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import HFValidationError

        try:
            file = Path(hf_hub_download(name, "config.json", revision=revision, local_files_only=cached_only))
        except (OSError, ValueError, HFValidationError) as err:
            at = f" at revision {revision!r}" if revision else ""
            raise ModelError(
                f"{what} = {name!r}{at}: cannot read its config.json ({type(err).__name__}: {err}). Give "
                "a local folder, or a hub id and revision that are cached here or reachable."
            ) from None
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ModelError(f"{file}: not valid JSON ({err.msg}, line {err.lineno}).") from None


def check_model_layout(
    name: str,
    revision: str | None,
    what: str = "[model] base",
    cached_only: bool = False,
    layout: str = "boson",
) -> dict[str, Any]:
    """Refuse a checkpoint that is not a Higgs v2 one in `layout` (the backend's); returns its config."""
    config = read_config(name, revision, what, cached_only)
    found = checkpoint_layout(config, name, what)
    if found != layout:
        found_as = f"model_type {config.get('model_type')!r}"
        raise LayoutError(layout_message(what, name, revision, found_as, found))
    return config


def checkpoint_layout(config: dict[str, Any], name: str, what: str = "[model] base") -> str:
    """ "boson" or "native", from a checkpoint's config.json; anything but Higgs v2 is refused."""
    model_type = config.get("model_type")
    if model_type not in MODEL_TYPE_LAYOUTS:
        raise ModelError(
            f"{what} = {name!r} is a {model_type!r} model; Higgs Audio v2 checkpoints (model_type "
            "'higgs_audio' or 'higgs_audio_v2') are what this kit trains, merges and speaks with. Give the Higgs base."
        )
    return MODEL_TYPE_LAYOUTS[model_type]


def check_audio_tokenizer_layout(name: str, revision: str | None, layout: str = "boson") -> None:
    """Refuse, from its config.json alone, an audio tokenizer in the other layout than `layout`."""
    what = "[model] audio_tokenizer"
    model_type = read_config(name, revision, what).get("model_type")
    found = "native" if model_type in NATIVE_MODEL_TYPES else "boson"
    if found != layout:
        raise LayoutError(layout_message(what, name, revision, f"model_type {model_type!r}", found))


def check_layouts(config: Any) -> None:
    """Both checks for a recipe's `[model]` against its backend, before any heavy work."""
    from higgs_lora.backends import backend_for

    layout = backend_for(config).layout
    if config.base != TINY:
        check_model_layout(config.base, config.revision, layout=layout)
    if config.audio_tokenizer != TINY:
        check_audio_tokenizer_layout(config.audio_tokenizer, config.audio_tokenizer_revision, layout)


def audio_tokenizer_folder(name: str, revision: str | None) -> Path:
    """Local folder of a boson-layout audio tokenizer (config.json + model.pth), downloaded if needed.

    boson's `load_higgs_audio_tokenizer(id)` calls `snapshot_download(id)` on `main`; we fetch the
    pinned revision ourselves and hand it the folder. The layout is checked on config.json first, so
    a native-layout repo is refused before its weights are downloaded.
    """
    what = "[model] audio_tokenizer"
    check_audio_tokenizer_layout(name, revision)
    if Path(name).is_dir():
        folder = Path(name)
    else:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(name, revision=revision))
    if not (folder / "model.pth").is_file():
        raise LayoutError(layout_message(what, name, revision, "no model.pth", "native"))
    return folder


def layout_message(what: str, name: str, revision: str | None, found: str, layout: str) -> str:
    key = "revision" if what.endswith("base") else "audio_tokenizer_revision"
    at = f" at revision {revision!r}" if revision else ""
    if layout == "boson":
        return (
            f"{what} = {name!r}{at} is in boson-multimodal's layout ({found}), which the native backend "
            'cannot read. Set [model] backend = "boson" and run it in the boson environment (README, '
            "'Two backends'); `higgs-lora merge --layout native` writes a merged checkpoint this one reads."
        )
    pinned = PINNED_REVISIONS.get(name)
    first = (
        f'set [model] {key} = "{pinned}" (the last boson-layout snapshot; it is the default for this id, '
        f"so removing your {key} line does the same)"
        if pinned
        else f"set [model] {key} to a revision of that repo in boson-multimodal's layout"
    )
    return (
        f"{what} = {name!r}{at} is in the transformers-native layout ({found}), which boson-multimodal "
        f"cannot read. Two ways out:\n  1. {first};\n  2. the native backend: [model] backend = "
        "\"native\" (transformers >= 5.3, its own environment; README, 'Two backends')."
    )


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
    """Every hub repo loading `config` (a recipe's ModelConfig) touches, with revision and size."""
    wanted: list[tuple[str, str, str]] = []
    if not is_local(config.base):
        wanted.append((config.base, config.revision or "main", "model + text tokenizer"))
    if not is_local(config.audio_tokenizer):
        wanted.append((config.audio_tokenizer, config.audio_tokenizer_revision or "main", "audio tokenizer"))
    if _needs_semantic_teacher(config):
        wanted.append((config.semantic_teacher or SEMANTIC_TEACHER_ID, "main", "audio tokenizer's HuBERT"))
    downloads = []
    for repo, revision, role in wanted:
        cached = _cached_bytes(repo, revision)
        size = None if cached is not None else _hub_size(repo, revision)
        estimate = ""
        if size is None and cached is None and repo == config.base and estimated_base_bytes:
            size, estimate = estimated_base_bytes, "estimated from the architecture"
        downloads.append(Download(repo, revision, role, cached, size, estimate))
    return downloads


def _needs_semantic_teacher(config: Any) -> bool:
    """boson's audio tokenizer fetches its HuBERT separately; the native one ships it in its own repo."""
    from higgs_lora.backends import resolve

    if config.audio_tokenizer == TINY or (config.semantic_teacher and is_local(config.semantic_teacher)):
        return False
    return resolve(config) == "boson"


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

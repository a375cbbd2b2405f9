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
import re
from pathlib import Path
from typing import Any

from higgs_lora.core.errors import ModelError

SEMANTIC_TEACHER_ID = "bosonai/hubert_base"  # hard-coded in boson's HiggsAudioTokenizer (~L92)
NATIVE_MODEL_TYPES = ("higgs_audio_v2", "higgs_audio_v2_tokenizer")
# model_type in a checkpoint's config.json → the layout it is written in
MODEL_TYPE_LAYOUTS = {"higgs_audio": "boson", "higgs_audio_v2": "native", "higgs_multimodal_qwen3": "higgs3"}
COMMIT = re.compile(r"[0-9a-f]{40}")  # a full git commit id, as the hub cache names snapshots


class LayoutError(ModelError):
    """The checkpoint or tokenizer is in a layout this backend cannot read."""


def is_local(name: str) -> bool:
    """A local folder (or the built-in tiny model): nothing is downloaded, no revision applies."""
    return name == TINY or Path(name).exists()


def read_config(name: str, revision: str | None, what: str, cached_only: bool = False) -> dict[str, Any]:
    """`config.json` of a local folder or of a hub repo at `revision` (one small download, or only the
    local cache with `cached_only`: planning never waits on an unreachable hub)."""
    file = _config_file(name, revision, what, cached_only)
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ModelError(f"{file}: not valid JSON ({err.msg}, line {err.lineno}).") from None


def resolved_commit(name: str, revision: str | None, what: str = "[model] audio_tokenizer") -> str:
    """The commit hub repo `name`'s `revision` (a branch, tag or commit; None: main) stands for: the one a
    download would fetch now. A commit id is its own answer; otherwise huggingface_hub decides as
    `from_pretrained` does: the hub's answer when it can be reached, else (offline, or the hub down) the
    local cache's `refs/<revision>`. Either way the answer is the snapshot folder config.json lands in
    (`snapshots/<commit>/`), so no network is needed when the cache has it."""
    if revision is not None and COMMIT.fullmatch(revision):
        return revision
    snapshot = _config_file(name, revision, what).parent
    if not COMMIT.fullmatch(snapshot.name):  # not huggingface_hub's cache layout: say so, never guess
        raise ModelError(
            f"{what} = {name!r}: {snapshot} is not a hub cache snapshot; cannot tell its commit."
        )
    return snapshot.name


def _config_file(name: str, revision: str | None, what: str, cached_only: bool = False) -> Path:
    if Path(name).is_dir():
        file = Path(name) / "config.json"
        if not file.is_file():
            raise ModelError(f"{what} = {name!r}: no config.json in that folder.")
        return file
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HFValidationError

    try:
        repo = cached_spelling(name, revision)
        return Path(hf_hub_download(repo, "config.json", revision=revision, local_files_only=cached_only))
    except (OSError, ValueError, HFValidationError) as err:
        at = f" at revision {revision!r}" if revision else ""
        raise ModelError(
            f"{what} = {name!r}{at}: cannot read its config.json ({type(err).__name__}: {err}). Give "
            "a local folder, or a hub id and revision that are cached here or reachable."
        ) from None


def check_model_layout(
    name: str,
    revision: str | None,
    what: str = "[model] base",
    cached_only: bool = False,
    layout: str = "boson",
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Refuse a checkpoint that is not a Higgs v2 one in `layout` (the backend's); returns its config
    (`config`: its config.json when already read)."""
    config = config if config is not None else read_config(name, revision, what, cached_only)
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
            "'higgs_audio' or 'higgs_audio_v2') and Higgs TTS 3 ones ('higgs_multimodal_qwen3') are what "
            "this kit trains, merges and speaks with. Give the Higgs base."
        )
    return MODEL_TYPE_LAYOUTS[model_type]


def check_audio_tokenizer_layout(name: str, revision: str | None, layout: str = "boson") -> None:
    """Refuse, from its config.json alone, an audio tokenizer in the other layout than `layout`."""
    what = "[model] audio_tokenizer"
    model_type = read_config(name, revision, what).get("model_type")
    found = "native" if model_type in NATIVE_MODEL_TYPES else "boson"
    if found != layout:
        raise LayoutError(layout_message(what, name, revision, f"model_type {model_type!r}", found))


def layout_message(what: str, name: str, revision: str | None, found: str, layout: str) -> str:
    key = "revision" if what.endswith("base") else "audio_tokenizer_revision"
    at = f" at revision {revision!r}" if revision else ""
    if layout == "boson":
        return (
            f"{what} = {name!r}{at} is in boson-multimodal's layout ({found}), which the native backend "
            'cannot read. Set [model] backend = "boson" and run it in the boson environment '
            "(docs/backends.md); `higgs-lora merge --layout native` writes a merged checkpoint this one reads."
        )
    pinned = pinned_revision(name)
    first = (
        f'set [model] {key} = "{pinned}" (the last boson-layout snapshot; it is the default for this id, '
        f"so removing your {key} line does the same)"
        if pinned
        else f"set [model] {key} to a revision of that repo in boson-multimodal's layout"
    )
    return (
        f"{what} = {name!r}{at} is in the transformers-native layout ({found}), which boson-multimodal "
        f"cannot read. Two ways out:\n  1. {first};\n  2. the native backend: [model] backend = "
        '"native" (transformers >= 5.3, its own environment; docs/backends.md).'
    )


TINY = "tiny-random"


BASE_ID = "bosonai/higgs-tts-2-3b-base"  # Higgs v2's hub id since Boson renamed its repositories
HIGGS3_ID = "bosonai/higgs-tts-3-4b"  # Higgs TTS 3 (model_type higgs_multimodal_qwen3); read at main


AUDIO_TOKENIZER_ID = "bosonai/higgs-audio-v2-tokenizer"  # not renamed


# Former ids of the official repos → their current ones. The hub redirects an old id and kept the
# history (the pinned commits resolve under either), so each old id means the official repo: what is
# decided about the official checkpoint (pins, layout, shipped architecture) is looked up by `canonical`.
ALIASES = {
    "bosonai/higgs-audio-v2-generation-3B-base": BASE_ID,
    "bosonai/higgs-audio-v3-tts-4b": HIGGS3_ID,
}


# The last snapshots of the official repos in the layout boson-multimodal reads. On 2026-04-04 their
# `main` moved to the transformers-native layout (HIGGS_NOTES §12), which it cannot load.
PINNED_REVISIONS = {
    BASE_ID: "10840182ca4ad5d9d9113b60b9bb3c1ef1ba3f84",  # 2025-07-28
    AUDIO_TOKENIZER_ID: "9d4988fbd4ad07b4cac3a5fa462741a41810dbec",  # 2025-07-22, with model.pth
}


def canonical(name: str) -> str:
    """The current hub id of an official repo named by a former id; any other name as it is."""
    return ALIASES.get(name, name)


def renamed_note(name: str) -> str:
    """What to write after a former id in a model card: " (now `<current id>`)"; "" for any other name."""
    return "" if canonical(name) == name else f" (now `{canonical(name)}`)"


def pinned_revision(name: str) -> str | None:
    """The boson-layout commit pinned for an official repo (under any of its ids); None for any other."""
    return PINNED_REVISIONS.get(canonical(name))


def cached_spelling(name: str, revision: str | None) -> str:
    """The id to download an official repo under: `name`, unless only another of its ids (old or new) has
    `revision` in the local hub cache; then that one (the same repo and commit: no second 11 GB
    download after the rename, and an offline run still finds the snapshot). Any other name as given."""
    spellings = [name] + [other for other in _spellings(canonical(name)) if other != name]
    if len(spellings) == 1 or Path(name).exists():
        return name
    from huggingface_hub import try_to_load_from_cache

    for spelling in spellings:
        if isinstance(try_to_load_from_cache(spelling, "config.json", revision=revision), str):
            return spelling
    return name


def _spellings(current: str) -> list[str]:
    return [current, *(old for old, new in ALIASES.items() if new == current)]


def pinned_for(config: Any) -> Any:
    """`config` (a `ModelConfig` whose backend is decided) with the revisions that backend reads: on
    boson, the official ids default to their pinned boson-layout snapshots, so the revision is always
    recorded; on native they read the hub's `main`. An explicit revision always wins."""
    if config.backend != "boson":
        return config
    update = {}
    for name_key, revision_key in (("base", "revision"), ("audio_tokenizer", "audio_tokenizer_revision")):
        name = getattr(config, name_key)
        if getattr(config, revision_key) is None and pinned_revision(name) is not None:
            update[revision_key] = pinned_revision(name)
    return config.model_copy(update=update)

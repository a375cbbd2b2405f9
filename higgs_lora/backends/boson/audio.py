"""boson-multimodal's audio tokenizer (`HiggsAudioTokenizer`): loading at a pinned revision, offline HuBERT,
and its size and frame rate from a config alone."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import torch
from boson_multimodal.audio_processing import higgs_audio_tokenizer as module
from boson_multimodal.audio_processing.higgs_audio_tokenizer import load_higgs_audio_tokenizer

from higgs_lora.core.errors import ModelError
from higgs_lora.core.hub import (
    SEMANTIC_TEACHER_ID,
    TINY,
    LayoutError,
    check_audio_tokenizer_layout,
    layout_message,
)


def load_audio_tokenizer(config: Any, device: torch.device | str = "cpu") -> Any:
    """The recipe's audio tokenizer at its revision (checked to be in boson's layout first)."""
    if config.audio_tokenizer == TINY:
        from higgs_lora.backends.boson.tiny import build_tiny_audio_tokenizer

        return build_tiny_audio_tokenizer().to(device)
    folder = audio_tokenizer_folder(config.audio_tokenizer, config.audio_tokenizer_revision)
    try:
        with semantic_teacher_from(config.semantic_teacher):
            return load_higgs_audio_tokenizer(str(folder), device=str(device))
    except OSError as err:
        raise ModelError(
            f"[model] audio_tokenizer = {config.audio_tokenizer!r}: cannot load it ({err}). Its HuBERT "
            f"comes from {config.semantic_teacher or SEMANTIC_TEACHER_ID!r}: set [model] semantic_teacher "
            "to a local copy to load it offline (docs/real-checkpoints.md)."
        ) from None


@contextlib.contextmanager
def semantic_teacher_from(source: str | None) -> Iterator[None]:
    """Within the block, boson's audio tokenizer takes its HuBERT from `source` (None: unchanged).

    `HiggsAudioTokenizer.__init__` (higgs_audio_tokenizer.py ~L92) hard-codes
    `AutoModel.from_pretrained("bosonai/hubert_base", trust_remote_code=True)` from the hub's main. A
    local copy is loaded as a plain transformers model, without running any code shipped with it.
    """
    if source is None:
        yield
        return
    from transformers import AutoModel

    class _FromSource:
        @staticmethod
        def from_pretrained(*_args: object, **_kwargs: object) -> Any:
            return AutoModel.from_pretrained(source, trust_remote_code=False)

    with mock.patch.object(module, "AutoModel", _FromSource):
        yield


def meta_tokenizer_facts(config: dict[str, Any], hubert: Any = None) -> tuple[float, int]:
    """(frames per second, bytes of weights) of a HiggsAudioTokenizer built on the meta device from its
    config.json's constructor arguments; `hubert` defaults to a HuBERT-base (bosonai/hubert_base)."""
    from transformers import HubertConfig, HubertModel

    from higgs_lora.backends.empty import empty_weights

    hubert = hubert if hubert is not None else HubertConfig()

    class _MetaHubert:
        @staticmethod
        def from_pretrained(*_args: object, **_kwargs: object) -> Any:
            return HubertModel(hubert)

    # the module-level AutoModel swap is process-wide too: inside the same one-thread-at-a-time lock
    with empty_weights(include_buffers=True), mock.patch.object(module, "AutoModel", _MetaHubert):
        tokenizer = module.HiggsAudioTokenizer(**config, device="cpu")
    size = sum(t.numel() * t.element_size() for t in [*tokenizer.parameters(), *tokenizer.buffers()])
    return float(tokenizer.frame_rate), size


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

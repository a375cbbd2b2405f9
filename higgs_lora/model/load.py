"""Loading the base model (4-bit or not), the text tokenizer and the audio tokenizer for a recipe.

One code path for CPU and CUDA; the differences are named in `Runtime`: device, compute dtype,
optimizer. Quantized loads go through transformers + bitsandbytes exactly as on a GPU.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from higgs_lora.backends import backend_for, tiny
from higgs_lora.backends.compat import keep_4bit_weights_as_loaded
from higgs_lora.core.errors import ModelError
from higgs_lora.core.hub import (
    TINY,
    cached_spelling,
    check_audio_tokenizer_layout,
    check_model_layout,
    resolved_commit,
)
from higgs_lora.core.schema import ModelConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """What differs between a CUDA GPU and a CPU run, decided once."""

    device: torch.device
    compute_dtype: torch.dtype

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def mixed_precision(self) -> str:
        """ "bf16" / "fp16" / "no", from the compute dtype alone: on CPU as on CUDA, so a half-precision
        CPU run rehearses exactly the mixed precision the Trainer sets up on a GPU."""
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.compute_dtype, "no")


def pick_runtime(config: ModelConfig) -> Runtime:
    """CUDA if present (bf16 where supported), else CPU in float32. Under a multi-process launch
    (accelerate/torchrun set LOCAL_RANK) each process takes its own GPU."""
    cuda = torch.cuda.is_available()
    if config.compute_dtype != "auto":
        dtype = getattr(torch, config.compute_dtype)
    elif cuda and torch.cuda.is_bf16_supported():
        dtype = torch.bfloat16
    else:
        dtype = torch.float16 if cuda else torch.float32
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    return Runtime(device=device, compute_dtype=dtype)


def resolve_base(config: ModelConfig) -> str:
    """Local folder or hub id of the base checkpoint (the official one under whichever of its ids the
    local cache holds it: `hub.cached_spelling`); builds the backend's tiny model on first use."""
    if config.base == TINY:
        return str(backend_for(config).tiny_model_dir())
    return cached_spelling(config.base, config.revision)


def quantization_config(config: ModelConfig, runtime: Runtime):  # -> BitsAndBytesConfig | None
    if config.quantization == "none":
        return None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=config.quantization,
        bnb_4bit_use_double_quant=config.double_quant,
        bnb_4bit_compute_dtype=runtime.compute_dtype,
        llm_int8_skip_modules=backend_for(config).full_precision_modules,
    )


def load_base_model(config: ModelConfig, runtime: Runtime | None = None) -> nn.Module:
    """The frozen base, with the labels shim, quantized as the recipe says, on the runtime's device."""
    runtime = runtime or pick_runtime(config)
    backend = backend_for(config)
    quant = quantization_config(config, runtime)
    kwargs: dict[str, Any] = {"torch_dtype": runtime.compute_dtype}
    if quant is not None:
        kwargs["quantization_config"] = quant
        if runtime.cuda:
            kwargs["device_map"] = {"": runtime.device.index or 0}
    source = resolve_base(config)
    try:
        model = backend.load_base_model(source, config.revision, **kwargs)
    except OSError as err:
        raise ModelError(
            f"[model] base = {config.base!r}{_at(config.revision)}: cannot load the checkpoint ({err}). Give "
            f"a local folder with config.json and weights, a hub id reachable from here, or {TINY!r}."
        ) from None
    if quant is None:
        model.to(runtime.device)
    else:
        keep_4bit_weights_as_loaded(model)
    model.config.use_cache = False
    model.requires_grad_(False)
    return model


def load_text_tokenizer(config: ModelConfig):  # -> PreTrainedTokenizerBase
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(resolve_base(config), revision=config.revision)
    except OSError as err:
        raise ModelError(f"[model] base = {config.base!r}: no text tokenizer found there ({err}).") from None


def load_audio_tokenizer(config: ModelConfig, device: torch.device | str = "cpu") -> Any:
    """The recipe's audio tokenizer, loaded by its backend (see `backends.base` for what it offers)."""
    return backend_for(config).load_audio_tokenizer(config, device)


def load_tokenizers(config: ModelConfig, device: torch.device | str = "cpu") -> tuple[Any, Any]:
    """(text tokenizer, audio tokenizer on `device`): what a Speaker takes beside its model."""
    return load_text_tokenizer(config), load_audio_tokenizer(config, device)


def audio_tokenizer_fingerprint(config: ModelConfig) -> str:
    """Identifies the tokenizer in cache keys: codes from another codec are never reused.

    A hub id is keyed by the commit its revision resolves to (`hub.resolved_commit`: offline from the
    local cache), never by the revision's name: `main` of the official tokenizer was rewritten once
    already, and a name would have kept serving the old codec's codes. A local folder is keyed by the
    content of every file that holds weights or settings (`CODEC_FILES`)."""
    name = config.audio_tokenizer
    if name == TINY:  # each backend's tiny codec is its own: codes are never shared between them
        return f"{TINY}-{tiny.TINY_VERSION}-{backend_for(config).name}"
    folder = Path(name)
    if folder.is_dir():
        return f"{folder.resolve().name}-{_folder_digest(folder)}"
    return f"{name}@{resolved_commit(name, config.audio_tokenizer_revision)}"


CODEC_FILES = ("config.json", "*.safetensors", "*.pth", "*.bin")
"""What a codec folder's fingerprint reads: its config and every weight file, in either layout (boson:
model.pth; transformers: model.safetensors, possibly sharded), in subfolders too."""


def _folder_digest(folder: Path) -> str:
    """sha256 over the relative path and content of each of `folder`'s `CODEC_FILES` (hidden folders, such
    as huggingface_hub's `.cache`, skipped). Content, not size and time: a copy keeps its key, and a
    rewrite of the same size within a second does not."""
    digest = hashlib.sha256()
    files = {file for pattern in CODEC_FILES for file in folder.rglob(pattern) if file.is_file()}
    for file in sorted(files):
        relative = file.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        digest.update(relative.as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:16]


def _at(revision: str | None) -> str:
    return f" at revision {revision!r}" if revision else ""


def check_layouts(config: Any) -> None:
    """Both checks for a recipe's `[model]` against its backend, before any heavy work."""
    from higgs_lora.backends import backend_for

    layout = backend_for(config).layout
    if config.base != TINY:
        check_model_layout(config.base, config.revision, layout=layout)
    if config.audio_tokenizer != TINY:
        check_audio_tokenizer_layout(config.audio_tokenizer, config.audio_tokenizer_revision, layout)

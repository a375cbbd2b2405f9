"""Loading the base model (4-bit or not), the text tokenizer and the audio tokenizer for a recipe.

One code path for CPU and CUDA; the differences are named in `Runtime`: device, compute dtype,
optimizer. Quantized loads go through transformers + bitsandbytes exactly as on a GPU.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelError
from ..recipe import TINY, ModelConfig
from . import tiny
from .compat import allow_bnb_on_cpu, keep_4bit_weights_as_loaded
from .hub import SEMANTIC_TEACHER_ID, audio_tokenizer_folder
from .shim import HiggsAudioForLoRA

# Kept in full precision under 4-bit: both output heads and the codebook embeddings are small next to
# the decoder, and quantizing the heads costs accuracy exactly where logits are produced.
FULL_PRECISION_MODULES = ["audio_decoder_proj", "audio_codebook_embeddings"]

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


def resolve_base(base: str) -> str:
    """Local folder or hub id of the base checkpoint; builds the tiny model on first use."""
    return str(tiny.tiny_model_dir()) if base == TINY else base


def quantization_config(config: ModelConfig, runtime: Runtime):  # -> BitsAndBytesConfig | None
    if config.quantization == "none":
        return None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=config.quantization,
        bnb_4bit_use_double_quant=config.double_quant,
        bnb_4bit_compute_dtype=runtime.compute_dtype,
        llm_int8_skip_modules=FULL_PRECISION_MODULES,
    )


def load_base_model(config: ModelConfig, runtime: Runtime | None = None) -> HiggsAudioForLoRA:
    """The frozen base, with the labels shim, quantized as the recipe says, on the runtime's device."""
    runtime = runtime or pick_runtime(config)
    quant = quantization_config(config, runtime)
    kwargs: dict[str, Any] = {"torch_dtype": runtime.compute_dtype}
    if quant is not None:
        kwargs["quantization_config"] = quant
        if runtime.cuda:
            kwargs["device_map"] = {"": runtime.device.index or 0}
    source = resolve_base(config.base)
    try:
        with allow_bnb_on_cpu():
            model = HiggsAudioForLoRA.from_pretrained(source, revision=config.revision, **kwargs)
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
        return AutoTokenizer.from_pretrained(resolve_base(config.base), revision=config.revision)
    except OSError as err:
        raise ModelError(f"[model] base = {config.base!r}: no text tokenizer found there ({err}).") from None


def load_audio_tokenizer(config: ModelConfig, device: torch.device | str = "cpu"):  # -> HiggsAudioTokenizer
    """The recipe's audio tokenizer at its revision (checked to be in boson's layout first)."""
    if config.audio_tokenizer == TINY:
        return tiny.build_tiny_audio_tokenizer()
    from boson_multimodal.audio_processing.higgs_audio_tokenizer import load_higgs_audio_tokenizer

    folder = audio_tokenizer_folder(config.audio_tokenizer, config.audio_tokenizer_revision)
    try:
        with semantic_teacher_from(config.semantic_teacher):
            return load_higgs_audio_tokenizer(str(folder), device=str(device))
    except OSError as err:
        raise ModelError(
            f"[model] audio_tokenizer = {config.audio_tokenizer!r}: cannot load it ({err}). Its HuBERT "
            f"comes from {config.semantic_teacher or SEMANTIC_TEACHER_ID!r}: set [model] semantic_teacher "
            "to a local copy to load it offline (README, 'Real checkpoints')."
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
    from unittest import mock

    from boson_multimodal.audio_processing import higgs_audio_tokenizer as module
    from transformers import AutoModel

    class _FromSource:
        @staticmethod
        def from_pretrained(*_args: object, **_kwargs: object) -> Any:
            return AutoModel.from_pretrained(source, trust_remote_code=False)

    with mock.patch.object(module, "AutoModel", _FromSource):
        yield


def audio_tokenizer_fingerprint(config: ModelConfig) -> str:
    """Identifies the tokenizer in cache keys: codes from another tokenizer (or revision) are never reused."""
    name = config.audio_tokenizer
    if name == TINY:
        return f"{TINY}-{tiny.TINY_VERSION}"
    folder = Path(name)
    if folder.is_dir():
        digest = hashlib.sha256()
        for part in ("config.json", "model.pth"):
            file = folder / part
            if file.is_file():
                digest.update(part.encode())
                stat = file.stat()
                digest.update(json.dumps([stat.st_size, int(stat.st_mtime)]).encode())
        return f"{folder.resolve().name}-{digest.hexdigest()[:16]}"
    return f"{name}@{config.audio_tokenizer_revision or 'main'}"


def _at(revision: str | None) -> str:
    return f" at revision {revision!r}" if revision else ""

"""What `plan` counts with: bytes of weights as bitsandbytes and transformers hold them, the base's
architecture from its config (shipped for the official model, so planning works offline), LoRA sizes."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from higgs_lora.core.schema import Recipe

GIB = 2**30


NF4_BLOCK = 64  # bitsandbytes' 4-bit block size (one absmax scale per 64 weights)


NESTED_BLOCK = 256  # double quantization: one fp32 scale per 256 absmax values


CUDA_CONTEXT_BYTES = 600 * 2**20  # CUDA context + cuBLAS workspace, before any tensor


FRAGMENTATION = 0.10  # caching-allocator slack on top of live tensors


TEXT_TOKENS_FIXED = 48  # ChatML headers, system prompt and control tokens of one sample


TEXT_TOKENS_PER_SECOND = 4  # transcript tokens per second of speech (Llama-3 BPE, English)


TEXT_TARGETS_PER_SAMPLE = 4  # <|audio_out_bos|>, <|audio_eos|>, <|eot_id|> (+1 spare)


# Offline fallbacks: the real checkpoint's architecture, used when the hub cannot be reached. Keyed by
# the current hub id (`hub.canonical` maps a former one to it); the file keeps the repo's first name.
KNOWN_CONFIGS = {
    "bosonai/higgs-tts-2-3b-base": Path(__file__).parents[1]
    / "model"
    / "configs"
    / "higgs-audio-v2-generation-3B-base.json",
    "bosonai/higgs-tts-3-4b": Path(__file__).parents[1] / "model" / "configs" / "higgs-tts-3-4b.json",
}


def predicted_weight_bytes(
    model: Any, quantization: str, double_quant: bool, dtype_bytes: int, full_precision: list[str]
) -> int:
    """Bytes the base will occupy once loaded, computed from parameter shapes alone."""
    from torch import nn

    total = 0
    quantized: set[str] = set()
    if quantization != "none":
        for name, module in model.named_modules():
            skip = any(name == m or name.startswith(f"{m}.") for m in full_precision)
            if isinstance(module, nn.Linear) and not skip:
                quantized.add(f"{name}.weight")
                total += nf4_bytes(module.weight.numel(), double_quant)
    for name, parameter in model.named_parameters():
        if name not in quantized:
            total += parameter.numel() * dtype_bytes
    total += sum(buffer.numel() * buffer.element_size() for buffer in model.buffers())
    return total


def loaded_weight_bytes(model: Any) -> int:
    """Bytes a loaded model holds in tensors: parameters, buffers and 4-bit quantization state."""
    seen: set[int] = set()
    total = 0

    def count(tensor: Any) -> None:
        nonlocal total
        if tensor is not None and tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            total += tensor.numel() * tensor.element_size()

    for parameter in model.parameters():
        count(parameter)
        state = getattr(parameter, "quant_state", None)
        if state is not None:
            count(state.absmax)
            count(state.code)
            if state.nested:
                count(state.offset)
                count(state.state2.absmax)
                count(state.state2.code)
    for buffer in model.buffers():
        count(buffer)
    return total


def parse_bytes(text: str | int) -> int:
    """'12GB', '12 GiB', '8000MB' or a number of bytes → bytes (GB is read as GiB, as GPUs are sold)."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"cannot read a memory size from {text!r} (try 12GB)")
    return int(float(match[1]) * 1024 ** "BKMGT".index(match[2].upper() or "B"))


def nf4_bytes(numel: int, double_quant: bool) -> int:
    blocks = math.ceil(numel / NF4_BLOCK)
    packed = math.ceil(numel / 2)  # two 4-bit values per byte
    code = 16 * 4  # the NF4 value table
    if not double_quant:
        return packed + blocks * 4 + code
    # absmax stored as 8-bit codes, with one fp32 scale per 256 of them, an fp32 offset and the
    # 256-entry dynamic code table.
    return packed + blocks + math.ceil(blocks / NESTED_BLOCK) * 4 + 4 + 256 * 4 + code


def architecture(model: Any) -> Any:
    """The base's architecture (a recipe's `[model]`) with boson's attribute names whatever the backend
    (`text_config.hidden_size`, `audio_num_codebooks`, ...), refused if the backend cannot read it."""
    from types import SimpleNamespace

    from higgs_lora.backends import backend_for
    from higgs_lora.core.hub import canonical, check_model_layout, pinned_for, pinned_revision
    from higgs_lora.higgs.configs import native_config_from_boson
    from higgs_lora.model.load import resolve_base

    backend = backend_for(model)
    # A recipe not resolved by a command yet reads what its backend would: the pin, on boson.
    model = pinned_for(model.model_copy(update={"backend": backend.name}))
    # The official architecture is fixed and ships with the kit: `plan` works offline. It is the official
    # id (current or former) at its pin, or at main on native; any other revision or checkpoint is read
    # where it lives, and its layout checked.
    known = KNOWN_CONFIGS.get(canonical(model.base))
    official = model.revision == pinned_revision(model.base) or (
        backend.layout in ("native", "higgs3") and model.revision is None
    )
    if known is not None and official:
        config_dict = json.loads(known.read_text(encoding="utf-8"))
        config_dict.pop("_comment", None)
        if backend.layout == "native":
            config_dict = native_config_from_boson(config_dict)
    else:
        config_dict = check_model_layout(resolve_base(model), model.revision, layout=backend.layout)
    return SimpleNamespace(
        **vars(backend.architecture(config_dict)), backend=backend, layout_config=config_dict
    )


def meta_model(config: Any) -> Any:
    """The backend's model for `architecture`'s architecture, on the meta device."""
    return config.backend.meta_model(config.layout_config)


def count_lora_params(model: Any, recipe: Recipe) -> int:
    from higgs_lora.backends import backend_of
    from higgs_lora.model.lora import matching_modules, target_regex

    modules = dict(model.named_modules())
    r = recipe.lora.r
    return sum(
        r * (modules[n].in_features + modules[n].out_features)
        for n in matching_modules(model, target_regex(recipe.lora, backend_of(model).target_patterns))
    )


def compute_bytes(model: Any, device: str = "GPU") -> int:
    """Bytes per element of a `[model]`'s compute dtype: "auto" is bf16 on a GPU, fp32 on CPU."""
    if model.compute_dtype == "auto":
        return 2 if device == "GPU" else 4
    return {"float32": 4, "bfloat16": 2, "float16": 2}[model.compute_dtype]

"""Loading Higgs TTS 3 for the kit: from_pretrained (4-bit included), the meta model for planning,
LoRA target groups, and the architecture in the attribute names `plan` computes with."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from higgs_lora.backends.compat import keep_4bit_weights_as_loaded
from higgs_lora.backends.higgs3.config import MODEL_TYPE, Higgs3Config
from higgs_lora.backends.higgs3.model import HiggsMultimodalQwen3ForConditionalGeneration
from higgs_lora.core.errors import ModelError

FULL_PRECISION_MODULES = ["text_head", "modality_embeddings"]
"""bitsandbytes quantizes every `nn.Linear`: an untied text head would be one. The fused audio table is an
`nn.Embedding` (never quantized), named here all the same so no future Linear under it is."""

TARGET_PATTERNS = {
    "attention": r"body\.layers\.\d+\.self_attn\.(?:q|k|v|o)_proj",
    "mlp": r"body\.layers\.\d+\.mlp\.(?:gate|up|down)_proj",
    "text_ffn": r"body\.layers\.\d+\.mlp\.(?:gate|up|down)_proj",
}
"""`[lora] targets` groups over Higgs TTS 3's module names. Each layer has one FFN (`mlp`; `text_ffn` is
the same one, under the v2 name). There is no `audio_ffn` (v2's dual FFN) and no Linear head: the audio
head is the tied table (`model.FusedAudioTable`), which LoRA cannot wrap without untying it."""


def unwrap(model: nn.Module) -> nn.Module:
    """The model under a PEFT wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def load_base_model(
    source: str, revision: str | None, **kwargs: Any
) -> HiggsMultimodalQwen3ForConditionalGeneration:
    """`from_pretrained`, refusing a checkpoint that lacks any of the network's weights."""
    if "torch_dtype" in kwargs:  # the boson path's spelling; transformers 5 renamed it `dtype`
        kwargs["dtype"] = kwargs.pop("torch_dtype")
    model, info = HiggsMultimodalQwen3ForConditionalGeneration.from_pretrained(
        source, revision=revision, output_loading_info=True, **kwargs
    )
    missing = sorted(info.get("missing_keys", []))
    if missing:
        raise ModelError(
            f"[model] base = {source!r}: the checkpoint lacks {missing[:3]} (is it a Higgs TTS 3 checkpoint?)"
        )
    keep_4bit_weights_as_loaded(model)
    model.bundled_from = checkpoint_files(source, revision)
    return model


def checkpoint_files(source: str, revision: str | None) -> list[str]:
    """The safetensors files `from_pretrained` just read (a local folder, or the hub cache's snapshot)."""
    from pathlib import Path

    folder = Path(source)
    if not folder.is_dir():
        from huggingface_hub import snapshot_download

        try:
            folder = Path(
                snapshot_download(
                    source, revision=revision, allow_patterns=["*.safetensors"], local_files_only=True
                )
            )
        except (OSError, ValueError):  # not in the cache as a snapshot: nothing to carry over
            return []
    return sorted(str(file) for file in folder.glob("*.safetensors"))


def meta_model(config: dict[str, Any]) -> nn.Module:
    """The model of a Higgs TTS 3 config.json on the meta device."""
    if config.get("model_type") != MODEL_TYPE:
        raise ModelError(
            f"config.json has model_type {config.get('model_type')!r}; the higgs3 backend reads "
            f"Higgs TTS 3 checkpoints ({MODEL_TYPE!r})."
        )
    with torch.device("meta"):
        return HiggsMultimodalQwen3ForConditionalGeneration(_config(config))


def architecture(config: dict[str, Any]) -> Any:
    """The config in the attribute names `plan` reads (boson's): Qwen3 text config, codebooks, no dual FFN."""
    higgs3 = _config(config)
    return SimpleNamespace(
        text_config=higgs3.text_config,
        audio_num_codebooks=higgs3.num_codebooks,
        audio_codebook_size=higgs3.codebook_size - 2,
        audio_dual_ffn_layers=[],
        audio_adapter_type="none",
        use_delay_pattern=True,
        skip_audio_tower=True,
    )


def _config(config: dict[str, Any]) -> Higgs3Config:
    fields = {
        k: v for k, v in config.items() if k not in ("architectures", "transformers_version", "model_type")
    }
    return Higgs3Config(**fields)

"""`Higgs3Backend`: the kit's contract (`backends.base.Backend`) over Higgs TTS 3.

Each method delegates to the module that owns the concern (model, load, tiny, collate, speaker); the
codec is the native backend's (Higgs TTS 3 uses the v2 audio tokenizer architecture, HIGGS_NOTES §15).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from higgs_lora.backends.base import Backend
from higgs_lora.backends.higgs3 import collate, load, tiny


class Higgs3Backend(Backend):
    name: ClassVar[str] = "higgs3"
    layout: ClassVar[str] = "higgs3"
    target_patterns: ClassVar[dict[str, str]] = load.TARGET_PATTERNS
    module_name_example: ClassVar[str] = "'body.layers.0.self_attn.q_proj' or 'body.layers.0.mlp.up_proj'"
    full_precision_modules: ClassVar[list[str]] = load.FULL_PRECISION_MODULES

    # -- model ---------------------------------------------------------------------------------------
    def model_class(self) -> type:
        from higgs_lora.backends.higgs3.model import HiggsMultimodalQwen3ForConditionalGeneration

        return HiggsMultimodalQwen3ForConditionalGeneration

    def load_base_model(self, source: str, revision: str | None, **kwargs: Any) -> nn.Module:
        return load.load_base_model(source, revision, **kwargs)

    def meta_model(self, config: dict[str, Any]) -> nn.Module:
        return load.meta_model(config)

    def architecture(self, config: dict[str, Any]) -> Any:
        return load.architecture(config)

    def text_head(self, loaded: nn.Module) -> nn.Module:
        return load.unwrap(loaded).text_head

    def codebooks(self, config: Any) -> tuple[int, int]:
        return int(config.num_codebooks), int(config.codebook_size) - 2  # without BOC/EOC

    def input_embeddings(self, loaded: nn.Module) -> nn.Module:
        return load.unwrap(loaded).get_input_embeddings()

    def decoder_layers(self, loaded: nn.Module) -> nn.ModuleList:
        return load.unwrap(loaded).body.layers

    # -- the built-in tiny model ---------------------------------------------------------------------
    def tiny_model_dir(self) -> Path:
        return tiny.tiny_model_dir()

    def tiny_audio_tokenizer(self) -> Any:
        from higgs_lora.backends.native import codec

        return codec.tiny_audio_tokenizer()

    # -- tokenizers ----------------------------------------------------------------------------------
    def load_audio_tokenizer(self, config: Any, device: torch.device | str) -> Any:
        from higgs_lora.backends.native import codec

        return codec.load_audio_tokenizer(config, device)

    def audio_tokenizer_facts(self, config: dict[str, Any]) -> tuple[float, int]:
        from higgs_lora.backends.native import codec

        return codec.audio_tokenizer_facts(config)

    def tiny_audio_tokenizer_facts(self) -> tuple[float, int]:
        from higgs_lora.backends.native import codec

        return codec.audio_tokenizer_facts(None)

    # -- data ----------------------------------------------------------------------------------------
    def encode_example(self, example: Any, text_tokenizer: Any, system_prompt: str) -> Any:
        return collate.encode_example(example, text_tokenizer)  # Higgs TTS 3's prompt has no system turn

    def example_length(self, example: Any, text_tokenizer: Any, system_prompt: str, codebooks: int) -> int:
        return collate.example_length(example, text_tokenizer, codebooks)

    def training_collator(self, config: Any) -> Any:
        return collate.Higgs3Collator(int(config.num_codebooks), collate.pad_token_of(config))

    def probe_batch(self, config: Any, text_tokenizer: Any, device: Any) -> dict[str, Any]:
        return collate.probe_batch(config, text_tokenizer, device)

    # -- inference -----------------------------------------------------------------------------------
    def speaker(
        self,
        model: nn.Module,
        text_tokenizer: Any,
        audio_tokenizer: Any,
        system_prompt: str,
        kv_cache_lengths: tuple[int, ...] = (1024, 4096),
        capture_cuda_graphs: bool = False,
    ) -> Any:
        from higgs_lora.backends.higgs3.speaker import Higgs3Speaker

        return Higgs3Speaker(model, text_tokenizer, audio_tokenizer)

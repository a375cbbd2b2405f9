"""`NativeBackend`: the kit's contract (`backends.base.Backend`) over transformers' own Higgs Audio v2.

Each method delegates to the module that owns the concern (model, tiny, codec, collate, speaker);
nothing here or there imports boson-multimodal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from higgs_lora.backends.base import Backend
from higgs_lora.backends.native import codec, collate, model, tiny


class NativeBackend(Backend):
    name: ClassVar[str] = "native"
    layout: ClassVar[str] = "native"
    target_patterns: ClassVar[dict[str, str]] = model.TARGET_PATTERNS
    module_name_example: ClassVar[str] = "'model.layers.0.self_attn.q_proj' or 'audio_lm_head'"
    full_precision_modules: ClassVar[list[str]] = model.FULL_PRECISION_MODULES

    # -- model ---------------------------------------------------------------------------------------
    def model_class(self) -> type:
        from transformers import HiggsAudioV2ForConditionalGeneration

        return HiggsAudioV2ForConditionalGeneration

    def load_base_model(self, source: str, revision: str | None, **kwargs: Any) -> nn.Module:
        return model.load_base_model(source, revision, **kwargs)

    def meta_model(self, config: dict[str, Any]) -> nn.Module:
        return model.meta_model(config)

    def architecture(self, config: dict[str, Any]) -> Any:
        from types import SimpleNamespace

        from transformers import HiggsAudioV2Config, LlamaConfig

        from higgs_lora.higgs.configs import boson_config_from_native

        fields = {k: v for k, v in config.items() if k not in ("architectures", "transformers_version")}
        boson = boson_config_from_native(HiggsAudioV2Config.from_dict(fields).to_dict())
        return SimpleNamespace(**{**boson, "text_config": LlamaConfig(**boson["text_config"])})

    def text_head(self, loaded: nn.Module) -> nn.Module:
        return model.unwrap(loaded).text_lm_head

    def random_text_head(self, loaded: nn.Module) -> bool:
        return bool(getattr(model.unwrap(loaded), model.RANDOM_TEXT_HEAD, False))

    def codebooks(self, config: Any) -> tuple[int, int]:
        return int(config.num_codebooks), int(config.codebook_size) - 2  # without stream BOS/EOS

    def input_embeddings(self, loaded: nn.Module) -> nn.Module:
        return model.unwrap(loaded).model.embed_tokens

    def decoder_layers(self, loaded: nn.Module) -> nn.ModuleList:
        return model.unwrap(loaded).model.layers

    # -- the built-in tiny model ---------------------------------------------------------------------
    def tiny_model_dir(self) -> Path:
        return tiny.tiny_model_dir()

    def tiny_audio_tokenizer(self) -> Any:
        return codec.tiny_audio_tokenizer()

    # -- tokenizers ----------------------------------------------------------------------------------
    def load_audio_tokenizer(self, config: Any, device: torch.device | str) -> Any:
        return codec.load_audio_tokenizer(config, device)

    def audio_tokenizer_facts(self, config: dict[str, Any]) -> tuple[float, int]:
        return codec.audio_tokenizer_facts(config)

    def tiny_audio_tokenizer_facts(self) -> tuple[float, int]:
        return codec.audio_tokenizer_facts(None)

    # -- data ----------------------------------------------------------------------------------------
    def encode_example(self, example: Any, text_tokenizer: Any, system_prompt: str) -> Any:
        return collate.encode_example(example, text_tokenizer, system_prompt)

    def example_length(self, example: Any, text_tokenizer: Any, system_prompt: str, codebooks: int) -> int:
        return collate.example_length(example, text_tokenizer, system_prompt, codebooks)

    def training_collator(self, config: Any) -> Any:
        return collate.NativeCollator(config)

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
        from higgs_lora.backends.native.speaker import NativeSpeaker

        return NativeSpeaker(
            model, text_tokenizer, audio_tokenizer, system_prompt, kv_cache_lengths, capture_cuda_graphs
        )

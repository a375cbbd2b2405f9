"""`BosonBackend`: the kit's contract (`backends.base.Backend`) met with boson-multimodal's classes.

Submodules that import boson_multimodal (and with it transformers and torchvision, ~4 s) load on first
use, so choosing the backend costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from higgs_lora.backends.base import Backend


class BosonBackend(Backend):
    name: ClassVar[str] = "boson"
    layout: ClassVar[str] = "boson"
    # Full-match regexes over module names of a HiggsAudioModel (modeling_higgs_audio.py). Bare names such
    # as "up_proj" would hit both the text FFN (`mlp`) and the audio FFN (`audio_mlp`), hence the paths.
    target_patterns: ClassVar[dict[str, str]] = {
        "attention": r"layers\.\d+\.(?:self_attn|audio_attn)\.(?:q|k|v|o)_proj",
        "text_ffn": r"layers\.\d+\.mlp\.(?:gate|up|down)_proj",
        "audio_ffn": r"layers\.\d+\.audio_mlp\.(?:gate|up|down)_proj",
        "heads": r"audio_decoder_proj\.(?:text_lm_head|audio_lm_head)",
    }
    module_name_example: ClassVar[str] = "'layers.0.self_attn.q_proj' or 'layers.0.audio_mlp.up_proj'"
    # Kept in full precision under 4-bit: both output heads and the codebook embeddings are small next to
    # the decoder, and quantizing the heads costs accuracy exactly where logits are produced.
    full_precision_modules: ClassVar[list[str]] = ["audio_decoder_proj", "audio_codebook_embeddings"]

    # -- model ---------------------------------------------------------------------------------------
    def model_class(self) -> type:
        from boson_multimodal.model.higgs_audio import HiggsAudioModel

        return HiggsAudioModel

    def load_base_model(self, source: str, revision: str | None, **kwargs: Any) -> nn.Module:
        from higgs_lora.backends.boson.shim import HiggsAudioForLoRA
        from higgs_lora.backends.compat import allow_bnb_on_cpu

        with allow_bnb_on_cpu():
            return HiggsAudioForLoRA.from_pretrained(source, revision=revision, **kwargs)

    def architecture(self, config: dict[str, Any]) -> Any:
        from boson_multimodal.model.higgs_audio import HiggsAudioConfig

        return HiggsAudioConfig(**{k: v for k, v in config.items() if not k.startswith("_comment")})

    def meta_model(self, config: dict[str, Any]) -> nn.Module:
        from boson_multimodal.model.higgs_audio import HiggsAudioModel

        from higgs_lora.backends.empty import empty_weights

        with empty_weights(include_buffers=False):
            return HiggsAudioModel(self.architecture(config))

    def text_head(self, model: nn.Module) -> nn.Module:
        return model.audio_decoder_proj.text_lm_head

    def codebooks(self, config: Any) -> tuple[int, int]:
        return config.audio_num_codebooks, config.audio_codebook_size

    def input_embeddings(self, model: nn.Module) -> nn.Module:
        return model.embed_tokens

    def decoder_layers(self, model: nn.Module) -> nn.ModuleList:
        return model.layers

    # -- the built-in tiny model ---------------------------------------------------------------------
    def tiny_model_dir(self) -> Path:
        from higgs_lora.backends.boson.tiny import tiny_model_dir

        return tiny_model_dir()

    def tiny_audio_tokenizer(self) -> Any:
        from higgs_lora.backends.boson.tiny import build_tiny_audio_tokenizer

        return build_tiny_audio_tokenizer()

    # -- tokenizers ----------------------------------------------------------------------------------
    def load_audio_tokenizer(self, config: Any, device: torch.device | str) -> Any:
        from higgs_lora.backends.boson.audio import load_audio_tokenizer

        return load_audio_tokenizer(config, device)

    def audio_tokenizer_facts(self, config: dict[str, Any]) -> tuple[float, int]:
        from higgs_lora.backends.boson.audio import meta_tokenizer_facts

        return meta_tokenizer_facts(config)

    def tiny_audio_tokenizer_facts(self) -> tuple[float, int]:
        from higgs_lora.backends.boson.audio import meta_tokenizer_facts
        from higgs_lora.backends.tiny import TINY_AUDIO_TOKENIZER_CONFIG, tiny_hubert_config

        return meta_tokenizer_facts(TINY_AUDIO_TOKENIZER_CONFIG, tiny_hubert_config())

    # -- data ----------------------------------------------------------------------------------------
    def encode_example(self, example: Any, text_tokenizer: Any, system_prompt: str) -> Any:
        from higgs_lora.backends.boson.samples import encode_example

        return encode_example(example, text_tokenizer, system_prompt)

    def example_length(self, example: Any, text_tokenizer: Any, system_prompt: str, codebooks: int) -> int:
        from higgs_lora.backends.boson.samples import example_length

        return example_length(example, text_tokenizer, system_prompt, codebooks)

    def training_collator(self, config: Any) -> Any:
        from higgs_lora.backends.boson.collate import TrainingCollator

        return TrainingCollator(config)

    def probe_batch(self, config: Any, text_tokenizer: Any, device: Any) -> dict[str, Any]:
        from higgs_lora.backends.boson.collate import probe_batch

        return probe_batch(config, text_tokenizer, device)

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
        from higgs_lora.backends.boson.speaker import Speaker

        return Speaker(
            model, text_tokenizer, audio_tokenizer, system_prompt, kv_cache_lengths, capture_cuda_graphs
        )

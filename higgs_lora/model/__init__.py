"""Model side, for any backend: loading (4-bit or not) and the tokenizers, LoRA, layer checkpointing, the
deferred text head."""

from higgs_lora.model.checkpointing import enable_layer_checkpointing
from higgs_lora.model.load import (
    Runtime,
    load_audio_tokenizer,
    load_base_model,
    load_text_tokenizer,
    pick_runtime,
)
from higgs_lora.model.lora import apply_lora, target_regex

__all__ = [
    "Runtime",
    "apply_lora",
    "enable_layer_checkpointing",
    "load_audio_tokenizer",
    "load_base_model",
    "load_text_tokenizer",
    "pick_runtime",
    "target_regex",
]

"""Model side, for any backend: loading (4-bit or not), LoRA, layer checkpointing, the hub, the tiny model."""

from .checkpointing import enable_layer_checkpointing
from .load import Runtime, load_audio_tokenizer, load_base_model, load_text_tokenizer, pick_runtime
from .lora import apply_lora, target_regex

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

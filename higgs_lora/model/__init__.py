"""Model side: loading (4-bit or not), the labels shim, LoRA targets, layer checkpointing, tiny model."""

from .checkpointing import enable_layer_checkpointing
from .load import Runtime, load_audio_tokenizer, load_base_model, load_text_tokenizer, pick_runtime
from .lora import TARGET_PATTERNS, apply_lora, target_regex
from .shim import HiggsAudioForLoRA

__all__ = [
    "TARGET_PATTERNS",
    "HiggsAudioForLoRA",
    "Runtime",
    "apply_lora",
    "enable_layer_checkpointing",
    "load_audio_tokenizer",
    "load_base_model",
    "load_text_tokenizer",
    "pick_runtime",
    "target_regex",
]

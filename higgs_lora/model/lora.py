"""LoRA targets as named groups of Higgs modules, and wrapping a shimmed base with PEFT."""

from __future__ import annotations

import re

from peft import LoraConfig as PeftLoraConfig
from peft import PeftModel, get_peft_model
from torch import nn

from ..errors import ModelError
from ..recipe import LoraConfig
from .shim import HiggsAudioForLoRA

# Full-match regexes over module names of a HiggsAudioModel (modeling_higgs_audio.py). Bare names such
# as "up_proj" would hit both the text FFN (`mlp`) and the audio FFN (`audio_mlp`), hence the paths.
TARGET_PATTERNS = {
    "attention": r"layers\.\d+\.(?:self_attn|audio_attn)\.(?:q|k|v|o)_proj",
    "text_ffn": r"layers\.\d+\.mlp\.(?:gate|up|down)_proj",
    "audio_ffn": r"layers\.\d+\.audio_mlp\.(?:gate|up|down)_proj",
    "heads": r"audio_decoder_proj\.(?:text_lm_head|audio_lm_head)",
}


def target_regex(config: LoraConfig) -> str:
    """The single regex PEFT matches module names against (`re.fullmatch`)."""
    if config.target_regex:
        return config.target_regex
    return "|".join(f"(?:{TARGET_PATTERNS[group]})" for group in config.targets)


def matching_modules(model: nn.Module, regex: str) -> list[str]:
    pattern = re.compile(regex)
    return [name for name, module in model.named_modules() if pattern.fullmatch(name) and _is_linear(module)]


def apply_lora(model: HiggsAudioForLoRA, config: LoraConfig) -> PeftModel:
    """Wrap the shimmed base in PEFT's causal-LM LoRA model; only the adapter is trainable."""
    regex = target_regex(config)
    if not matching_modules(model, regex):
        what = (
            f"target_regex = {config.target_regex!r}"
            if config.target_regex
            else f"targets = {config.targets}"
        )
        raise ModelError(
            f"[lora] {what} matches no Linear layer of this model. Module names look like "
            "'layers.0.self_attn.q_proj' or 'layers.0.audio_mlp.up_proj'."
        )
    peft_config = PeftLoraConfig(
        r=config.r,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=regex,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_config)


def _is_linear(module: nn.Module) -> bool:
    # bitsandbytes' Linear4bit subclasses nn.Linear.
    return isinstance(module, nn.Linear)

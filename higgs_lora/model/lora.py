"""LoRA targets as named groups of Higgs modules (per backend), and wrapping a shimmed base with PEFT."""

from __future__ import annotations

import re

from peft import LoraConfig as PeftLoraConfig
from peft import PeftModel, get_peft_model
from torch import nn

from higgs_lora.backends import backend_of
from higgs_lora.core.errors import ModelError
from higgs_lora.core.schema import LoraConfig


def target_regex(config: LoraConfig, patterns: dict[str, str]) -> str:
    """The single regex PEFT matches module names against (`re.fullmatch`); `patterns` are the backend's
    regexes per target group (`Backend.target_patterns`), since module names differ between backends."""
    if config.target_regex:
        return config.target_regex
    absent = [group for group in config.targets if group not in patterns]
    if absent:
        import difflib

        def why(group: str) -> str:
            close = difflib.get_close_matches(group, patterns, n=1)
            return f"{group!r}" + (f' (did you mean "{close[0]}"?)' if close else "")

        raise ModelError(
            f"[lora] targets = {config.targets}: {', '.join(why(g) for g in absent)} is not a group of this "
            f"backend's model; its groups are {', '.join(patterns)}."
        )
    return "|".join(f"(?:{patterns[group]})" for group in config.targets)


def matching_modules(model: nn.Module, regex: str) -> list[str]:
    pattern = re.compile(regex)
    return [name for name, module in model.named_modules() if pattern.fullmatch(name) and _is_linear(module)]


def apply_lora(model: nn.Module, config: LoraConfig) -> PeftModel:
    """Wrap the shimmed base in PEFT's causal-LM LoRA model; only the adapter is trainable."""
    backend = backend_of(model)
    regex = target_regex(config, backend.target_patterns)
    if not matching_modules(model, regex):
        what = (
            f"target_regex = {config.target_regex!r}"
            if config.target_regex
            else f"targets = {config.targets}"
        )
        raise ModelError(
            f"[lora] {what} matches no Linear layer of this model. Module names look like "
            f"{backend.module_name_example}."
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

"""Loading a trained adapter back: base (shimmed) + PEFT weights, ready for forward or generation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import HiggsLoraError
from .recipe import ModelConfig


def load_adapter(
    adapter_dir: str | Path,
    *,
    base: str | None = None,
    quantization: str = "none",
    is_trainable: bool = False,
) -> Any:  # -> PeftModel
    """The base named in the adapter's config (or `base`), with the labels shim under PEFT's wrapper.

    `quantization` defaults to "none": inference and merging want full-precision base weights; pass
    "nf4" to reproduce the 4-bit training setup exactly.
    """
    from peft import PeftModel

    from .model.load import load_base_model

    folder = Path(adapter_dir)
    config_file = folder / "adapter_config.json"
    if not config_file.is_file():
        raise HiggsLoraError(
            f"{folder}: no adapter_config.json; is this an adapter folder (adapters/<name>/)?"
        )
    base_name = base or json.loads(config_file.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not base_name:
        raise HiggsLoraError(f"{config_file}: base_model_name_or_path is empty; pass base=... explicitly.")
    model = load_base_model(ModelConfig(base=base_name, quantization=quantization))
    return PeftModel.from_pretrained(model, str(folder), is_trainable=is_trainable)

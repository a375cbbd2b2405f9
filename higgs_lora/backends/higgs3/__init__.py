"""The higgs3 backend: Higgs TTS 3 (`model_type` "higgs_multimodal_qwen3", `bosonai/higgs-tts-3-4b`).

Modules, one concern each: `config` (the config class, special tokens), `model` (Qwen3 body + the tied
fused audio table), `load` (loading, 4-bit, LoRA target groups, planning's architecture), `tiny`
(seeded tiny model and tokenizer), `collate` (prompt and training batches), `speaker` (generation with
the delay pattern), `backend` (the `Backend` contract). Runs in the native environment (transformers
>= 5.3: Qwen3 and the v2 codec).
"""

from higgs_lora.backends.higgs3.backend import Higgs3Backend

BACKEND = Higgs3Backend()

__all__ = ["BACKEND", "Higgs3Backend"]

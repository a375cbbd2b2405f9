"""Higgs TTS 3's config (`model_type` "higgs_multimodal_qwen3") and the prompt's special tokens.

transformers has no class for this model type (HIGGS_NOTES §15); the checkpoint's config.json nests a
Qwen3 `text_config` and a discrete `audio_encoder_config` (`num_codebooks`, `vocab_size` = codebook
size with BOC/EOC, `out_dim`, `tie_word_embeddings`). Field names and defaults follow upstream's
readers: sglang-omni `sglang_omni/models/higgs_tts/hf_config.py` and vllm-omni
`vllm_omni/model_executor/models/higgs_audio_v3/configuration_higgs_audio_v3.py` (both Apache-2.0).
"""

from __future__ import annotations

from typing import Any, ClassVar

from transformers import AutoConfig, PretrainedConfig, Qwen3Config

MODEL_TYPE = "higgs_multimodal_qwen3"
ARCHITECTURE = "HiggsMultimodalQwen3ForConditionalGeneration"
QWEN3_ROPE_THETA = 1_000_000.0
"""The checkpoint's text_config has `rope_theta: null`; Qwen3 trained at 1e6, transformers' default
is 10000 (both upstream readers patch it: hf_config.py `_QWEN3_ROPE_THETA`)."""
BOC = 1024
"""Begin-of-codebook: the delay pattern's fill before a codebook starts (`codebook_layout.py`)."""
EOC = 1025
"""End-of-codebook: the fill after it ends; codebook 0's EOC is the stop signal (`sampler.py`)."""

TOKENS = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<|tts|>": 151667,
    "<|audio|>": 151670,
    "<|audio_end|>": 151671,
    "<|text|>": 151672,
    "<|text_end|>": 151673,
    "<|eoc|>": 151674,
    "<|ref_audio|>": 151679,
    "<|ref_text|>": 151680,
}
"""The real tokenizer's ids of the tokens the prompt uses (Qwen2 BPE + 84 added tokens from 151643),
as sglang-omni's preprocessing tests pin them (`tests/.../test_higgs_tts_preprocessing.py`
`_SPECIAL_IDS`) and the checkpoint's tokenizer.json lists them."""


class Higgs3Config(PretrainedConfig):
    """A Qwen3 body plus one fused audio table; `audio_token_id` (-100) marks audio rows in a prompt."""

    model_type = MODEL_TYPE
    sub_configs: ClassVar[dict[str, type]] = {"text_config": Qwen3Config}

    def __init__(
        self,
        text_config: dict[str, Any] | Qwen3Config | None = None,
        audio_encoder_config: dict[str, Any] | None = None,
        audio_token_id: int = -100,
        mel_per_sample: int = 8,
        **kwargs: Any,
    ) -> None:
        if not isinstance(text_config, Qwen3Config):
            fields = dict(text_config or {})
            fields.pop("model_type", None)
            if fields.get("rope_theta") is None and not (fields.get("rope_parameters") or {}).get(
                "rope_theta"
            ):
                fields["rope_theta"] = QWEN3_ROPE_THETA
            text_config = Qwen3Config(**fields)
        self.text_config = text_config
        self.audio_encoder_config = dict(
            audio_encoder_config
            or {
                "encoder_type": "discrete",
                "num_codebooks": 8,
                "vocab_size": 1026,
                "tie_word_embeddings": True,
            }
        )
        self.audio_token_id = audio_token_id
        self.mel_per_sample = mel_per_sample
        kwargs.setdefault(
            "tie_word_embeddings", False
        )  # our ties are structural (model.py), not transformers'
        super().__init__(**kwargs)

    @property
    def num_codebooks(self) -> int:
        return int(self.audio_encoder_config["num_codebooks"])

    @property
    def codebook_size(self) -> int:
        """Per-codebook rows of the fused table: the codec's codes plus BOC and EOC (1026)."""
        return int(self.audio_encoder_config["vocab_size"])

    @property
    def hidden_size(self) -> int:
        return int(self.text_config.hidden_size)

    def get_text_config(self, decoder: bool | None = None, encoder: bool | None = None) -> Qwen3Config:
        return self.text_config


AutoConfig.register(MODEL_TYPE, Higgs3Config, exist_ok=True)

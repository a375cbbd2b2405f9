"""The native model class the kit trains: transformers' Higgs v2 with the kit's batch and outputs.

`HiggsAudioV2ForConditionalGeneration.forward` (modeling_higgs_audio_v2.py) returns audio logits for
every position and computes its own loss, which differs from the kit's (HIGGS_NOTES §13: per-codebook
CE summed; the processor's labels mask every stream EOS). The subclass returns what
`higgs_lora.loss.higgs_loss` takes instead: text logits from `text_lm_head` (so `model.lean` can defer
the head), the expanded text labels, and audio logits for the audio-out frames only. Without
`audio_out_mask` (generation, plain calls) it is the parent's forward, unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import HiggsAudioV2Config, HiggsAudioV2ForConditionalGeneration
from transformers.utils import ModelOutput

from higgs_lora.backends.compat import keep_4bit_weights_as_loaded
from higgs_lora.core.errors import ModelError

log = logging.getLogger(__name__)

RANDOM_TEXT_HEAD = "higgs_lora_random_text_head"
"""Set (True) on a loaded model whose checkpoint has no `text_lm_head` weights: its head is random."""

FULL_PRECISION_MODULES = ["audio_lm_head", "text_lm_head"]
"""bitsandbytes quantizes every Linear but the last module by default; with the text head present that
last one is `text_lm_head`, so `audio_lm_head` would become Linear4bit (HIGGS_NOTES §13). The codebook
embeddings are `nn.Embedding`, which bitsandbytes never quantizes."""

TARGET_PATTERNS = {
    "attention": r"model\.layers\.\d+\.self_attn\.(?:q|k|v|o)_proj",
    "text_ffn": r"model\.layers\.\d+\.mlp\.(?:gate|up|down)_proj",
    "audio_ffn": r"model\.layers\.\d+\.audio_mlp\.(?:gate|up|down)_proj",
    "heads": r"(?:text_lm_head|audio_lm_head)",
}
"""The kit's `[lora] targets` groups over native module names (boson's: `BosonBackend.target_patterns`,
renamed as `layouts.to_native_key` renames keys; the native layer has no `audio_attn`)."""


@dataclass
class NativeHiggsOutput(ModelOutput):
    logits: torch.Tensor | None = None
    """Text logits `[B, L, V]`, or the final hidden states while `model.lean` defers the head."""
    expanded_labels: torch.Tensor | None = None
    """Text labels `[B, L]` aligned with the expanded row, unshifted, -100 where no target."""
    audio_logits: torch.Tensor | None = None
    """`[N, C, K]` for the N audio-out positions of the batch, row-major."""


class NativeHiggsForLoRA(HiggsAudioV2ForConditionalGeneration):
    """Takes the native collator's batch; absorbs `labels` (PEFT's causal-LM wrapper passes `labels=`)."""

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        audio_input_ids: torch.Tensor | None = None,
        audio_input_ids_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        audio_out_mask: torch.Tensor | None = None,
        label_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Any:
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        if audio_out_mask is None:  # generation and plain forwards: the parent, without its loss
            return super().forward(
                input_ids=input_ids,
                attention_mask=attention_mask,
                audio_input_ids=audio_input_ids,
                audio_input_ids_mask=audio_input_ids_mask,
                position_ids=position_ids,
                **kwargs,
            )
        if self.text_lm_head is None:
            raise ModelError(
                "the native model was loaded without its text head: load it with `use_text_head=True` "
                "(NativeBackend.load_base_model does)."
            )
        for key in ("return_dict", "output_attentions", "output_hidden_states", "inputs_embeds"):
            kwargs.pop(key, None)
        hidden = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            audio_input_ids=audio_input_ids,
            audio_input_ids_mask=audio_input_ids_mask,
            position_ids=position_ids,
            use_cache=False,
            **kwargs,
        ).last_hidden_state
        audio = self.audio_lm_head(hidden[audio_out_mask.to(hidden.device)])
        return NativeHiggsOutput(
            logits=self.text_lm_head(hidden),
            expanded_labels=label_ids,
            audio_logits=audio.view(-1, self.config.num_codebooks, self.config.codebook_size),
        )


def unwrap(model: nn.Module) -> nn.Module:
    """The transformers model under a PEFT wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def load_base_model(source: str, revision: str | None, **kwargs: Any) -> NativeHiggsForLoRA:
    """`from_pretrained` with the text head. A checkpoint may lack its weights (transformers' conversion
    script can drop it; generation never uses it): the head is then random, and the model is marked
    (`RANDOM_TEXT_HEAD`) so that training leaves the text term out and merging does not save the noise."""
    if "torch_dtype" in kwargs:  # the boson path's spelling; transformers 5 renamed it `dtype`
        kwargs["dtype"] = kwargs.pop("torch_dtype")
    model, info = NativeHiggsForLoRA.from_pretrained(
        source, revision=revision, use_text_head=True, output_loading_info=True, **kwargs
    )
    missing = [key for key in info.get("missing_keys", []) if not key.startswith("text_lm_head")]
    if missing:
        raise ModelError(f"[model] base = {source!r}: the checkpoint lacks {missing[:3]} (native layout?)")
    keep_4bit_weights_as_loaded(model)  # bitsandbytes' packed CPU kernel SIGFPEs in generation's prefill
    if any(key.startswith("text_lm_head") for key in info.get("missing_keys", [])):
        setattr(model, RANDOM_TEXT_HEAD, True)
        log.info("%s has no text_lm_head weights: the text head is random", source)
    return model


def meta_model(config: dict[str, Any]) -> nn.Module:
    """The model of a native config.json on the meta device, text head included (as training holds it)."""
    if config.get("model_type") != "higgs_audio_v2":
        raise ModelError(
            f"config.json has model_type {config.get('model_type')!r}; the native backend reads the "
            "transformers layout ('higgs_audio_v2'). Convert a boson checkpoint with higgs_lora.backends.layouts."
        )
    fields = {k: v for k, v in config.items() if k not in ("architectures", "transformers_version")}
    native = HiggsAudioV2Config.from_dict(fields)
    with torch.device("meta"):
        return NativeHiggsForLoRA(native, use_text_head=True)

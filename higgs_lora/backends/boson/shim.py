"""The forward shim that makes HiggsAudioModel trainable under PEFT's causal-LM wrapper.

peft 0.21 `PeftModelForCausalLM.forward` (peft_model.py ~L2085-2124) always calls the base model with
`labels=labels`, and `HiggsAudioModel.forward` has neither a `labels` parameter nor `**kwargs`, so a
bare model fails with "unexpected keyword argument 'labels'". `HiggsAudioForLoRA` absorbs `labels`
(the loss is ours: see `higgs_lora.loss`) and is what the kit loads *before* `get_peft_model` wraps it.
It is a subclass, not a wrapper module, so its state-dict keys are exactly those of a plain
HiggsAudioModel and adapters load with stock PEFT onto `HiggsAudioModel.from_pretrained(base)`.
"""

from __future__ import annotations

import inspect
from typing import Any

from boson_multimodal.model.higgs_audio import HiggsAudioModel
from torch import nn


class HiggsAudioForLoRA(HiggsAudioModel):
    """HiggsAudioModel that accepts and drops `labels`, and names its input embeddings."""

    def forward(self, *args: Any, labels: Any = None, **kwargs: Any) -> Any:
        # `labels` is injected by PEFT below any caller; HiggsAudioModel computes no loss anyway.
        return super().forward(*args, **kwargs)

    # Advertise the real parameters (plus `labels`): generation validates its kwargs against the
    # forward signature (transformers GenerationMixin._validate_model_kwargs) and would reject
    # audio_out_ids & co. against a bare (*args, **kwargs).
    forward.__signature__ = inspect.signature(HiggsAudioModel.forward).replace(
        parameters=[
            *inspect.signature(HiggsAudioModel.forward).parameters.values(),
            inspect.Parameter("labels", inspect.Parameter.KEYWORD_ONLY, default=None),
        ]
    )

    def get_input_embeddings(self) -> nn.Module:
        # PreTrainedModel's default raises NotImplementedError for this class; PEFT and
        # transformers' training helpers call it.
        return self.embed_tokens

"""Text logits only where a text label exists: the largest memory saving in Higgs TTS training.

`HiggsAudioDecoderProjector.forward` (audio_head.py) applies the 128256-way text head to every
position, audio frames and the reference clip included, although in TTS the only text targets are a
few control tokens per sample (`<|audio_out_bos|>`, `<|audio_eos|>`, `<|eot_id|>`). For a 20 s
target after a 10 s reference that is ~1300 rows of logits, plus their gradient, where ~3 count.

While `deferring()` is active the text head passes its input through, so the model's `logits` are
the final hidden states `[B, L, hidden]`; the loss then applies `head` to the rows whose next label
is a text target (`loss.higgs_loss(text_head=...)`). Loss and gradients are unchanged (tested).
Outside `deferring()` (generation, merging, evaluation by other tools) nothing changes. The head's
bound `forward` is wrapped as an instance attribute: classes and state-dict keys stay, and a LoRA
wrapped head keeps its adapter, since `head` is the original forward.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn


class DeferredTextHead:
    def __init__(self, model: nn.Module) -> None:
        from higgs_lora.backends import backend_of

        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        module = backend_of(base).text_head(base)
        self._module = module
        self._original_forward: Callable[..., torch.Tensor] = module.forward
        self.head: Callable[[torch.Tensor], torch.Tensor] = self._apply_head
        self._active = False
        module.forward = self._forward

    def _apply_head(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """The head as the model's forward would have run it, on the rows the loss picked.

        Under mixed precision (on CUDA) accelerate converts the model's outputs to fp32 after its
        autocast forward, and nothing autocasts the loss, so the hidden states reach here in fp32
        while the head's weight is bf16/fp16. Inside the forward they were in the weight's dtype
        (RMSNorm returns its input dtype), so casting back is exact and gives the same matmul.
        """
        return self._original_forward(hidden_states.to(self._module.weight.dtype))

    @contextlib.contextmanager
    def deferring(self) -> Iterator[DeferredTextHead]:
        """Within the block, forward passes return hidden states where text logits would be."""
        self._active = True
        try:
            yield self
        finally:
            self._active = False

    def _forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return hidden_states if self._active else self._original_forward(hidden_states, *args, **kwargs)

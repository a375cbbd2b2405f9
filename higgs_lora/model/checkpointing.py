"""Activation checkpointing of the Higgs decoder layers (one mechanism for every backend).

`HiggsAudioModel` declares `supports_gradient_checkpointing`, but `_forward_core`
(modeling_higgs_audio.py ~L1104) calls every decoder layer directly and never checkpoints, and with
`skip_audio_tower=True` `gradient_checkpointing_enable()` raises. We therefore wrap each layer's own
bound `forward` (an instance attribute: module names, state-dict keys and the class stay untouched)
in `torch.utils.checkpoint(..., use_reentrant=False)`: activations inside a layer are dropped after
forward and recomputed in backward. Removable once boson-multimodal checkpoints its layers itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder layers of a Higgs model of any backend, also when wrapped by PEFT."""
    from higgs_lora.backends import backend_of

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return backend_of(base).decoder_layers(base)


def enable_layer_checkpointing(model: nn.Module) -> int:
    """Checkpoint every decoder layer of `model` while gradients are enabled; returns the count."""
    layers = decoder_layers(model)
    for layer in layers:
        if not getattr(layer, "_higgs_lora_checkpointed", False):
            layer.forward = _checkpointed(layer.forward)
            layer._higgs_lora_checkpointed = True
    return len(layers)


def _checkpointed(forward: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(forward)
    def run(*args: Any, **kwargs: Any) -> Any:
        if not torch.is_grad_enabled():
            return forward(*args, **kwargs)  # evaluation and generation: nothing to save
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)

    return run

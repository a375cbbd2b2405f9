"""4-bit weights unpacked once per sentence on the CPU, for generation.

bitsandbytes' CPU path (without AVX-512 bf16) dequantizes every NF4 weight (and, with double
quantization, its scales) at every call: one decoder step per audio frame makes that 40 % of the smoke
eval's time. Inside `unpacked_4bit(model)` each `Linear4bit` on the CPU computes with its weight
dequantized once, by the same bitsandbytes call, in the dtype it computes in: the same numbers, not an
approximation (tests/unit/test_unpacked.py compares logits bit for bit). On a GPU nothing changes: its
4-bit kernels never materialise the weight, and the memory a full copy takes is what 4 bits saves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


@contextmanager
def unpacked_4bit(model: nn.Module) -> Iterator[None]:
    """While inside, CPU `Linear4bit` layers of `model` (adapted by LoRA or not) skip re-dequantizing."""
    try:
        from bitsandbytes.nn import Linear4bit
    except ImportError:  # no bitsandbytes, so nothing is in 4 bits
        yield
        return
    layers = [
        m
        for m in model.modules()
        if isinstance(m, Linear4bit)
        and m.weight.device.type == "cpu"
        # bitsandbytes' own CPU kernel layout (`backends.compat.keep_4bit_weights_as_loaded` keeps the
        # kit's models out of it) is another format: left to bitsandbytes
        and not getattr(m.weight.quant_state, "packing_format_for_cpu", False)
    ]
    replaced = {id(m): m.__dict__.get("forward") for m in layers}
    for layer in layers:
        layer.forward = _UnpackedForward(layer)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for layer in layers:
            previous = replaced[id(layer)]
            if previous is None:
                del layer.forward
            else:
                layer.forward = previous  # type: ignore[method-assign]


class _UnpackedForward:
    """`Linear4bit.forward` as bitsandbytes computes it on the CPU (input cast to the compute dtype,
    weight dequantized into the input's dtype, `F.linear`, output cast back), its weight kept."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.weights: dict[torch.dtype, torch.Tensor] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import bitsandbytes.functional as bnb_functional

        layer = self.layer
        if not layer.compute_type_is_set:
            layer.set_compute_type(x)
            layer.compute_type_is_set = True
        inp_dtype = x.dtype
        if layer.compute_dtype is not None:
            x = x.to(layer.compute_dtype)
        weight = self.weights.get(x.dtype)
        if weight is None:
            weight = bnb_functional.dequantize_4bit(layer.weight.data, layer.weight.quant_state).to(x.dtype)
            self.weights[x.dtype] = weight
        bias = layer.bias.to(x.dtype) if layer.bias is not None else None
        return nn.functional.linear(x, weight, bias).to(inp_dtype)

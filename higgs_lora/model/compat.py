"""CPU-only workarounds for 4-bit: let transformers quantize without CUDA; keep empty inputs safe.

transformers 4.46.3 refuses 4-bit loading without CUDA in
`integrations/bitsandbytes.py::validate_bnb_backend_availability` (~L545; on a CPU-only machine it
fails with "'frozenset' object has no attribute 'discard'" or asks for IPEX), although bitsandbytes
>= 0.49 runs NF4 `Linear4bit` forward and backward on CPU. The check is imported inside
`Bnb4BitHfQuantizer.validate_environment`, so replacing the module attribute for the duration of a
load is enough. Used only when CUDA is absent; removable once the transformers version that
boson-multimodal pins accepts bitsandbytes' CPU backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest import mock

import torch


@contextlib.contextmanager
def allow_bnb_on_cpu() -> Iterator[None]:
    """Within the block, transformers accepts bitsandbytes 4-bit quantization on a CPU-only machine."""
    if torch.cuda.is_available():
        yield
        return
    import transformers.integrations

    with mock.patch.object(transformers.integrations, "validate_bnb_backend_availability", return_value=True):
        yield


def guard_empty_inputs(model: torch.nn.Module) -> int:
    """Make every bitsandbytes 4-bit layer of `model` return an empty output for an empty input.

    bitsandbytes 0.50's CPU backend kills the process with SIGFPE (a division by zero in its C++ 4-bit
    kernel) when a `Linear4bit` receives zero rows. Higgs' dual FFN does exactly that while generating:
    a decoding step holds either one text or one audio token, so one of the two FFNs gets none. Only
    generation is affected (a training batch always holds both), and only without CUDA. Each layer's
    bound `forward` is wrapped as an instance attribute; state-dict keys and classes are unchanged.
    Returns how many layers were guarded. Removable once bitsandbytes handles empty inputs on CPU.
    """
    if torch.cuda.is_available():
        return 0
    import bitsandbytes as bnb

    guarded = 0
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit) and not getattr(module, "_higgs_lora_empty_guard", False):
            module.forward = _empty_safe(module.forward, module.out_features)
            module._higgs_lora_empty_guard = True
            guarded += 1
    return guarded


def _empty_safe(forward, out_features: int):
    def run(x: torch.Tensor, *args, **kwargs):
        if x.numel() == 0:
            return x.new_zeros((*x.shape[:-1], out_features))
        return forward(x, *args, **kwargs)

    return run

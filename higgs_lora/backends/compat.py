"""CPU-only workarounds for 4-bit: let transformers quantize without CUDA; keep 4-bit weights fixed.

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


def keep_4bit_weights_as_loaded(model: torch.nn.Module) -> int:
    """Stop bitsandbytes from repacking 4-bit weights in place for its CPU inference kernel.

    bitsandbytes 0.50 `Linear4bit.forward` (nn/modules.py ~L612), on CPUs with AVX512-BF16, repacks a
    layer's weight the first time it runs in eval mode without grad, and keeps it that way:
    1. later *training* forwards use the repacked weight (bf16 scales), so one mid-run evaluation
       changes the training numerics: runs stop being reproducible and a resume no longer matches
       the uninterrupted run;
    2. the packed kernel dies with SIGFPE on a zero-row input, which Higgs' dual FFN produces at every
       generation step (each step holds either a text or an audio token, so one FFN gets none).
    The layer's own `support_avx512bf16_for_cpu` flag (set once in its constructor) gates that path;
    turning it off per instance keeps the weights exactly as loaded. Only without CUDA. Returns how
    many layers were changed. Removable once bitsandbytes stops mutating weights in forward.
    """
    if torch.cuda.is_available():
        return 0
    import bitsandbytes as bnb

    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    for layer in layers:
        layer.support_avx512bf16_for_cpu = False
    return len(layers)

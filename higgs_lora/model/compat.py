"""The one CPU workaround: let transformers quantize to bitsandbytes 4-bit without CUDA.

transformers 4.46.3 refuses 4-bit loading without CUDA in
`integrations/bitsandbytes.py::validate_bnb_backend_availability` (~L545; on a CPU-only machine it
fails with "'frozenset' object has no attribute 'discard'" or asks for IPEX), although bitsandbytes
>= 0.49 runs NF4 `Linear4bit` forward and backward on CPU. The check is imported inside
`Bnb4BitHfQuantizer.validate_environment`, so replacing the module attribute for the duration of a
load is enough. Used only when CUDA is absent; removable once transformers accepts bitsandbytes' CPU
backend (it does from 4.47 on, which boson-multimodal does not allow yet).
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

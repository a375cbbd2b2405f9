"""Generation on the CPU computes each 4-bit layer with its weight dequantized once: the same numbers
as bitsandbytes dequantizing at every call, bit for bit, in float32 and in bfloat16 (the CUDA
configuration rehearsed), for a single decoder step and a prompt alike, and the layers are restored."""

from __future__ import annotations

import pytest
import torch

from higgs_lora.backends import backend_for
from higgs_lora.backends.compat import keep_4bit_weights_as_loaded
from higgs_lora.backends.unpacked import unpacked_4bit
from higgs_lora.core.hub import TINY
from higgs_lora.core.schema import ModelConfig
from higgs_lora.model.load import load_base_model, load_text_tokenizer, pick_runtime


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_4bit_layer_gives_the_same_numbers(dtype: torch.dtype) -> None:
    import bitsandbytes as bnb

    torch.manual_seed(0)
    # A real layer's shape and magnitude (hidden 2560 → 1024, weights ~0.02), double-quantized as loaded.
    layer = bnb.nn.Linear4bit(2560, 1024, bias=True, compute_dtype=dtype, quant_type="nf4")
    layer.weight = bnb.nn.Params4bit(
        torch.randn(1024, 2560) * 0.02, requires_grad=False, quant_type="nf4", compress_statistics=True
    )
    layer.bias = torch.nn.Parameter(torch.randn(1024) * 0.01, requires_grad=False)
    layer = layer.to("cpu")  # quantizes
    keep_4bit_weights_as_loaded(layer)  # as every model the kit loads
    layer.eval()
    for x in (torch.randn(1, 1, 2560, dtype=dtype), torch.randn(1, 37, 2560, dtype=dtype)):
        with torch.no_grad():
            expected = layer(x)
            with unpacked_4bit(layer):
                got, again = layer(x), layer(x)
            after = layer(x)
        assert torch.equal(got, expected) and torch.equal(again, expected) and torch.equal(after, expected)
    assert "forward" not in layer.__dict__  # restored: the class's own forward again


def test_the_tiny_4bit_model_gives_the_same_logits() -> None:
    config = ModelConfig(base=TINY, quantization="nf4", compute_dtype="bfloat16")
    model = load_base_model(config, pick_runtime(config)).eval()
    assert any(type(m).__name__ == "Linear4bit" for m in model.modules())
    probe = backend_for(config).probe_batch(model.config, load_text_tokenizer(config), "cpu")
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = model(**probe)
        with unpacked_4bit(model):
            got = model(**probe)
    assert torch.equal(got.logits, expected.logits) and torch.equal(got.audio_logits, expected.audio_logits)

"""Higgs TTS 3's model class: the real checkpoint's weight names, the audio table tied as input and output
through save/load and 4-bit loading, and auto detection by model_type."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from higgs_lora.backends import get, layout_backend
from higgs_lora.backends.higgs3.model import HiggsMultimodalQwen3ForConditionalGeneration
from higgs_lora.backends.higgs3.tiny import build_tiny_model, tiny_config

pytestmark = pytest.mark.backend("higgs3")

TABLE = "tied.embedding.modality_embeddings.0.embedding.weight"


def _assert_tied(model: HiggsMultimodalQwen3ForConditionalGeneration) -> None:
    """One weight: the head's logits are hidden @ table.T, and a frame's embedding sums its rows."""
    table = model.audio_table
    hidden = torch.randn(3, model.config.hidden_size)
    expected = (hidden @ table.embedding.weight.float().T).view(3, table.num_codebooks, table.codebook_size)
    torch.testing.assert_close(table.logits(hidden).float(), expected)
    codes = torch.tensor([[1, 2, 1024, 1025]])
    rows = codes[0] + torch.arange(4) * table.codebook_size
    torch.testing.assert_close(table.embed(codes)[0], table.embedding.weight[rows].sum(0))
    assert [n for n, _ in model.named_parameters() if "modality" in n] == [TABLE]


def test_weight_names_are_the_real_checkpoints() -> None:
    keys = set(build_tiny_model().state_dict())
    assert {"tied.embedding.text_embedding.weight", TABLE, "body.norm.weight"} <= keys
    assert "body.layers.1.self_attn.q_norm.weight" in keys and "body.layers.0.mlp.gate_proj.weight" in keys
    assert not any(k.startswith(("body.embed_tokens", "tied.head")) for k in keys)  # held once, tied


def test_table_stays_tied_after_save_and_load(tmp_path: Path) -> None:
    model = build_tiny_model()
    _assert_tied(model)
    with torch.no_grad():  # a change to the table is a change to the head: there is only one weight
        model.audio_table.embedding.weight[5] += 1.0
    model.save_pretrained(tmp_path)
    loaded = HiggsMultimodalQwen3ForConditionalGeneration.from_pretrained(tmp_path)
    _assert_tied(loaded)
    torch.testing.assert_close(loaded.audio_table.embedding.weight, model.audio_table.embedding.weight)


def test_checkpoint_with_codec_and_head_copies_loads(tmp_path: Path) -> None:
    """The real checkpoint also holds the bundled codec and the heads' copies (dropped when tied)."""
    model = build_tiny_model()
    model.save_pretrained(tmp_path)
    weights = load_file(str(tmp_path / "model.safetensors"))
    weights["tied.embedding.modality_embeddings.0.model.quantizer.weight"] = torch.zeros(2)
    weights["tied.head.modality_heads.0.weight"] = weights[TABLE].clone()
    weights["tied.head.text_head.weight"] = torch.zeros_like(weights["tied.embedding.text_embedding.weight"])
    save_file(weights, str(tmp_path / "model.safetensors"), {"format": "pt"})
    loaded, info = HiggsMultimodalQwen3ForConditionalGeneration.from_pretrained(
        tmp_path, output_loading_info=True
    )
    assert not info["missing_keys"]
    _assert_tied(loaded)


def test_null_rope_theta_reads_as_qwen3s() -> None:
    from higgs_lora.backends.higgs3.config import Higgs3Config

    config = Higgs3Config(text_config={**tiny_config().text_config.to_dict(), "rope_theta": None})
    assert config.text_config.rope_parameters["rope_theta"] == 1_000_000.0


def test_4bit_body_full_precision_table_and_norms() -> None:
    bnb = pytest.importorskip("bitsandbytes")
    from transformers import BitsAndBytesConfig

    backend = get("higgs3")
    quantization = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=torch.float32,
        llm_int8_skip_modules=backend.full_precision_modules,
    )
    model = backend.load_base_model(str(backend.tiny_model_dir()), None, quantization_config=quantization)
    layer = model.body.layers[0]
    assert isinstance(layer.self_attn.q_proj, bnb.nn.Linear4bit) and isinstance(
        layer.mlp.up_proj, bnb.nn.Linear4bit
    )
    assert model.audio_table.embedding.weight.dtype == torch.float32
    assert layer.input_layernorm.weight.dtype == torch.float32
    _assert_tied(model)


def test_model_type_selects_the_higgs3_backend() -> None:
    from higgs_lora.core.hub import checkpoint_layout

    layout = checkpoint_layout({"model_type": "higgs_multimodal_qwen3"}, "x")
    assert layout_backend(layout) == "higgs3"
    assert get("higgs3").name == "higgs3"


def test_saving_carries_the_bundled_codec_on(tmp_path: Path) -> None:
    """A merged checkpoint keeps the base's codec tensors: sglang-omni loads its codec from them."""
    source, out = tmp_path / "base", tmp_path / "out"
    build_tiny_model().save_pretrained(source)
    weights = load_file(str(source / "model.safetensors"))
    codec = "tied.embedding.modality_embeddings.0.model.quantizer.weight"
    weights[codec] = torch.arange(4.0)
    save_file(weights, str(source / "model.safetensors"), {"format": "pt"})
    loaded = get("higgs3").load_base_model(str(source), None)
    loaded.save_pretrained(out)
    saved = load_file(str(out / "model.safetensors"))
    assert torch.equal(saved[codec], torch.arange(4.0))
    assert not any(k.startswith("tied.head") for k in saved)
    _assert_tied(HiggsMultimodalQwen3ForConditionalGeneration.from_pretrained(out))

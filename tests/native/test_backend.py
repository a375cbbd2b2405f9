"""`NativeBackend` meets the contract without boson-multimodal."""

from __future__ import annotations

import re
import sys

import torch

from higgs_lora.backends import get
from higgs_lora.backends.base import Backend


def test_backend_is_complete_and_imports_no_boson(native_text_tokenizer) -> None:
    backend = get("native")
    assert isinstance(backend, Backend) and (backend.name, backend.layout) == ("native", "native")
    tiny = backend.tiny_model_dir()
    assert backend.tiny_model_dir() == tiny  # built once, then reused
    model = backend.load_base_model(str(tiny), None)
    assert type(model).__name__ == "NativeHiggsForLoRA"
    assert backend.model_class().__name__ == "HiggsAudioV2ForConditionalGeneration"
    assert backend.codebooks(model.config) == (4, 1024)
    assert backend.text_head(model) is model.text_lm_head
    assert backend.input_embeddings(model) is model.model.embed_tokens
    assert len(backend.decoder_layers(model)) == 2
    probe = backend.probe_batch(model.config, native_text_tokenizer, "cpu")
    assert "label_audio_ids" not in probe
    with torch.no_grad():
        out = model(**probe)
    assert out.audio_logits.shape[0] == int(probe["audio_out_mask"].sum())
    meta = backend.meta_model(model.config.to_dict())
    assert meta.audio_lm_head.weight.is_meta and meta.text_lm_head is not None
    architecture = backend.architecture(model.config.to_dict())  # what `plan` computes with
    assert architecture.text_config.hidden_size == 64 and architecture.audio_num_codebooks == 4
    assert architecture.audio_codebook_size == 1024
    assert not [name for name in sys.modules if name.startswith("boson_multimodal")]


def test_target_groups_match_the_native_module_names() -> None:
    backend = get("native")
    model = backend.load_base_model(str(backend.tiny_model_dir()), None)
    names = [name for name, _ in model.named_modules()]
    expected = {"attention": 2 * 4, "text_ffn": 2 * 3, "audio_ffn": 2 * 3, "heads": 2}
    for group, pattern in backend.target_patterns.items():
        matched = [name for name in names if re.fullmatch(pattern, name)]
        assert len(matched) == expected[group], (group, matched)
    assert set(backend.full_precision_modules) == {"audio_lm_head", "text_lm_head"}


def test_auto_takes_the_native_backend_and_refuses_a_boson_checkpoint_with_the_way_out(tmp_path) -> None:
    import json

    import pytest

    from higgs_lora.backends import resolve
    from higgs_lora.core.hub import BASE_ID, LayoutError
    from higgs_lora.core.schema import ModelConfig

    assert resolve(ModelConfig(base="tiny-random")) == "native"
    assert ModelConfig(base=BASE_ID).revision is None  # the official id reads main here
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "higgs_audio"}))
    with pytest.raises(LayoutError) as caught:
        resolve(ModelConfig(base=str(tmp_path)))
    message = str(caught.value)
    assert "boson-multimodal's layout" in message and 'backend = "boson"' in message
    assert "merge --layout native" in message

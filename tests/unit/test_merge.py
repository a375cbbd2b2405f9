"""`merge` writes a checkpoint meant for generation: its config keeps the KV cache on, in either layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from higgs_lora.core.schema import LoraConfig, ModelConfig


@pytest.fixture(scope="module")
def random_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained LoRA adapter on the tiny model of this environment's backend (merging needs no training)."""
    from higgs_lora.model import apply_lora, load_base_model

    config = ModelConfig(base="tiny-random", quantization="none", compute_dtype="float32")
    model = apply_lora(load_base_model(config), LoraConfig(r=4, targets=["attention"]))
    folder = tmp_path_factory.mktemp("adapter") / "voice"
    model.save_pretrained(folder, save_embedding_layers=False)
    settings = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(
        json.dumps({**settings, "base_model_name_or_path": "tiny-random"})
    )
    return folder


@pytest.mark.parametrize("layout", ["boson", "native"])
def test_the_merged_config_generates_with_the_kv_cache(
    random_adapter: Path, tmp_path: Path, layout: str
) -> None:
    """Training loads the base with `use_cache = False`; the merged checkpoint must not inherit it (every
    generation step would recompute the whole prefix)."""
    from higgs_lora.verbs.merge import merge

    out = merge(random_adapter, out=tmp_path / "merged", dtype="fp32", device="cpu", layout=layout).out
    config = json.loads((out / "config.json").read_text())
    assert config["use_cache"] is True
    assert config["model_type"] == {"boson": "higgs_audio", "native": "higgs_audio_v2"}[layout]
    generation = out / "generation_config.json"
    if generation.is_file():
        assert json.loads(generation.read_text()).get("use_cache", True) is True

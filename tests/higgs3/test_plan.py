"""`plan` for Higgs TTS 3 offline, from the architecture the kit ships: the model's size, and both
higgs3 recipes under the 6 GB goal for a 20 s target after a 10 s reference, batch 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from higgs_lora.core.recipe import load_recipe
from higgs_lora.planning.sizes import architecture, meta_model
from higgs_lora.planning.training import plan

pytestmark = pytest.mark.backend("higgs3")
RECIPES = Path(__file__).parents[2] / "recipes"
GIB = 1024**3


def test_architecture_is_qwen3_4b_plus_the_audio_table() -> None:
    recipe = load_recipe(RECIPES / "higgs3-8gb.toml")
    config = architecture(recipe.model)
    assert config.backend.name == "higgs3" and config.audio_num_codebooks == 8
    assert config.text_config.num_hidden_layers == 36 and config.text_config.hidden_size == 2560
    model = meta_model(config)
    params = sum(p.numel() for p in model.parameters())
    assert 4.0e9 < params < 4.1e9  # 4.02B Qwen3-4B (tied) + the 8·1026 × 2560 table


@pytest.mark.parametrize("name", ["higgs3-8gb.toml", "higgs3-12gb.toml"])
def test_recipes_fit_the_6gb_goal(name: str) -> None:
    recipe = load_recipe(RECIPES / name)
    recipe.data.max_seconds = 20.0
    recipe.data.reference = "same_speaker"
    predicted = plan(recipe, gpu_memory="8GB", ref_seconds=10.0)
    assert predicted.fits and predicted.total < 6 * GIB, predicted.describe()

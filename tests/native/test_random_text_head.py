"""A native checkpoint without `text_lm_head` weights (transformers' conversion script may drop them):
its text head loads random, so training leaves the text loss term out and says so, and a merge does not
write the noise (nor a boson-layout checkpoint, whose generation runs through that head)."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

import higgs_lora
from higgs_lora import HiggsLoraError
from higgs_lora.backends import get
from tests.helpers import smoke_recipe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("headless")
    base = folder / "headless-base"
    shutil.copytree(get("native").tiny_model_dir(), base)
    dropped = 0
    for file in base.glob("*.safetensors"):
        weights = load_file(str(file))
        kept = {key: value for key, value in weights.items() if not key.startswith("text_lm_head")}
        dropped += len(weights) - len(kept)
        save_file(kept, str(file), metadata={"format": "pt"})
    assert dropped, "the tiny checkpoint has a text head to drop"
    recipe = smoke_recipe(folder, folder / "codes", train="max_steps = 2", name="headless")
    recipe.write_text(recipe.read_text().replace('base = "tiny-random"', f'base = "{base}"'))
    return higgs_lora.train(recipe, progress=False).adapter_dir


def test_training_leaves_the_text_term_out_and_says_so(trained: Path) -> None:
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["text_loss_weight"] == 0.0
    assert any(
        "no text_lm_head weights" in note and "text_loss_weight 1 → 0" in note for note in metrics["notes"]
    )
    recorded = tomllib.loads((trained / "recipe.toml").read_text())
    assert recorded["train"]["text_loss_weight"] == 0.0  # the recipe kept with the adapter says what ran


def test_a_merge_leaves_the_random_head_out_and_refuses_the_boson_layout(
    trained: Path, tmp_path: Path
) -> None:
    higgs_lora.merge(trained, out=tmp_path / "merged")
    keys = [key for file in (tmp_path / "merged").glob("*.safetensors") for key in load_file(str(file))]
    assert keys and not any(key.startswith("text_lm_head") for key in keys)
    with pytest.raises(HiggsLoraError, match="no text_lm_head weights.*--layout native"):
        higgs_lora.merge(trained, out=tmp_path / "boson", layout="boson")
    assert not (tmp_path / "boson").exists()

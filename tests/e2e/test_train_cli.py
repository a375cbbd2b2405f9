"""End to end through the real command: `higgs-lora train recipes/smoke.toml` on a clean folder (the README
quickstart, on whichever backend this environment has)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from peft.utils import load_peft_weights, set_peft_model_state_dict
from safetensors.torch import load_file

import higgs_lora
from tests.helpers import REPO, installed_backend, run_cli, smoke_recipe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The README quickstart, verbatim, run from a scratch working directory."""
    workdir = tmp_path_factory.mktemp("quickstart")
    result = run_cli("train", str(REPO / "recipes" / "smoke.toml"), cwd=workdir)
    return workdir / "adapters" / "smoke", result


def test_smoke_recipe_trains_an_adapter_and_the_loss_halves(smoke_run) -> None:
    adapter, result = smoke_run
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("adapter_config.json", "adapter_model.safetensors", "recipe.toml", "loss.png", "README.md"):
        assert (adapter / name).is_file(), name
    metrics = json.loads((adapter / "metrics.json").read_text())
    assert metrics["steps"] == 40 and metrics["loss_history"][0] == [1, metrics["first_loss"]]
    assert [step for step, _ in metrics["loss_history"]] == list(range(1, 41))
    assert metrics["final_loss"] <= metrics["first_loss"] / 2
    assert metrics["eval_loss"] is not None and metrics["eval_loss"] < metrics["first_loss"] / 2
    assert "Finished smoke: 40 steps" in result.stdout
    assert metrics["data_wait_fraction"] < 0.1, "cached codes: loading never holds training up"
    assert "waiting for data" in result.stdout
    assert "prepared 12 clips" in result.stdout
    # same_speaker on data without speaker labels: said in the warnings, the summary and metrics.
    note = "no clip has a speaker label, so all 12 clips are treated as one speaker"
    assert note in result.stderr and "note: [data] reference" in result.stdout
    assert any(note in n for n in metrics["notes"])
    assert (adapter / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((adapter / "logs").iterdir()), "TensorBoard event files"


def test_stock_peft_loads_the_adapter_onto_a_plain_higgs_model(smoke_run) -> None:
    """Onto the plain class of the backend it trained on (HiggsAudioModel, or transformers' own)."""
    backend = installed_backend()
    adapter, _ = smoke_run
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "tiny-random"
    text_head = {"use_text_head": True} if backend.name == "native" else {}  # the native class's option
    base = backend.model_class().from_pretrained(backend.tiny_model_dir(), **text_head)
    model = PeftModel.from_pretrained(base, str(adapter))
    result = set_peft_model_state_dict(model, load_peft_weights(str(adapter)))
    assert result.unexpected_keys == []
    assert [k for k in result.missing_keys if "lora_" in k] == []
    saved = load_file(str(adapter / "adapter_model.safetensors"))
    state = model.state_dict()
    assert saved, "the adapter holds weights"
    for key, tensor in saved.items():
        live = key.replace(".lora_A.weight", ".lora_A.default.weight").replace(
            ".lora_B.weight", ".lora_B.default.weight"
        )
        assert torch.equal(state[live], tensor), key


def test_training_again_refuses_to_overwrite_without_force(smoke_run) -> None:
    adapter, _ = smoke_run
    before = (adapter / "adapter_model.safetensors").read_bytes()
    result = run_cli("train", str(REPO / "recipes" / "smoke.toml"), cwd=adapter.parent.parent)
    assert result.returncode == 2
    assert "already holds a trained adapter. Pass --force to replace it" in result.stderr
    assert "Traceback" not in result.stderr
    assert (adapter / "adapter_model.safetensors").read_bytes() == before


def test_bad_recipe_exits_2_with_the_message(tmp_path: Path) -> None:
    recipe = tmp_path / "bad.toml"
    recipe.write_text('name = "x"\n[data]\npath = "d"\n[train]\nlerning_rate = 1\n', encoding="utf-8")
    result = run_cli("train", str(recipe), cwd=tmp_path)
    assert result.returncode == 2
    assert f'{recipe}:5 [train]: unknown key "lerning_rate". Did you mean "learning_rate"?' in result.stderr
    assert "Traceback" not in result.stderr


def test_help_is_available_for_every_verb(tmp_path: Path) -> None:
    for verb in ("train", "prepare"):
        result = run_cli(verb, "--help", cwd=tmp_path)
        assert result.returncode == 0 and "recipe" in result.stdout


def test_a_data_set_of_one_clip_trains_without_an_eval_split(tmp_path: Path, codes_cache_dir: Path) -> None:
    """The default eval_fraction holds nothing out of one clip: training runs without evaluating,
    instead of the Trainer failing for want of an eval data set."""
    recipe = smoke_recipe(tmp_path, codes_cache_dir, train="max_steps = 2\nsave_steps = 100", name="one")
    metadata = tmp_path / "smoke-data" / "metadata.csv"
    metadata.write_text(metadata.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    text = recipe.read_text(encoding="utf-8")
    recipe.write_text(
        text.replace('reference = "same_speaker"', 'reference = "none"').replace(
            "eval_fraction = 0.0", "eval_fraction = 0.05"
        ),
        encoding="utf-8",
    )
    result = higgs_lora.train(recipe, progress=False)
    assert (result.adapter_dir / "adapter_model.safetensors").is_file()
    metrics = json.loads((result.adapter_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["train_examples"] == 1 and metrics["eval_examples"] == 0

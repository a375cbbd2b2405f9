"""Data-parallel training through accelerate: 2 CPU processes (gloo) match one process step for step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers import run_cli, smoke_recipe

pytestmark = pytest.mark.slow

STEPS = "max_steps = 4\nsave_steps = 2\neval_steps = 2"


def test_two_processes_match_one_process_with_the_same_global_batch(
    tmp_path: Path, codes_cache_dir: Path
) -> None:
    # One process: batch 1 x 2 accumulation steps. Two processes: batch 1 each. Global batch 2 both ways.
    single = smoke_recipe(tmp_path / "one", codes_cache_dir, train=STEPS, extra="", name="one")
    single.write_text(single.read_text().replace("grad_accumulation = 1", "grad_accumulation = 2"))
    double = smoke_recipe(tmp_path / "two", codes_cache_dir, train=STEPS, name="two")
    for recipe in (single, double):
        recipe.write_text(recipe.read_text().replace("eval_fraction = 0.0", "eval_fraction = 0.17"))

    one = run_cli("train", str(single))
    assert one.returncode == 0, one.stderr[-3000:]
    two = run_cli("train", str(double), "--processes", "2")
    assert two.returncode == 0, two.stderr[-3000:]
    assert "launching: -m accelerate.commands.launch" in two.stdout or "accelerate" in two.stdout
    assert two.stdout.count("Finished two: 4 steps") == 1, "only the main process reports and writes"

    adapters = tmp_path / "two" / "adapters"
    assert [p.name for p in adapters.iterdir()] == ["two"]
    checkpoints = sorted(p.name for p in (adapters / "two" / "checkpoints").iterdir())
    assert checkpoints == ["checkpoint-2", "checkpoint-4"]

    expected = json.loads((tmp_path / "one" / "adapters" / "one" / "metrics.json").read_text())
    got = json.loads((adapters / "two" / "metrics.json").read_text())
    assert [s for s, _ in got["loss_history"]] == [1, 2, 3, 4]
    for (_, a), (_, b) in zip(expected["loss_history"], got["loss_history"], strict=True):
        assert b == pytest.approx(a, rel=1e-4)
    assert got["eval_loss"] == pytest.approx(expected["eval_loss"], rel=1e-4)
    weights_one = load_file(str(tmp_path / "one" / "adapters" / "one" / "adapter_model.safetensors"))
    weights_two = load_file(str(adapters / "two" / "adapter_model.safetensors"))
    for key in weights_one:
        torch.testing.assert_close(weights_two[key], weights_one[key], rtol=1e-4, atol=1e-6)


def test_resume_works_the_same_with_two_processes(tmp_path: Path, codes_cache_dir: Path) -> None:
    recipe = smoke_recipe(tmp_path, codes_cache_dir, train="max_steps = 2\nsave_steps = 2", name="ddp")
    first = run_cli("train", str(recipe), "--processes", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = run_cli("train", str(recipe), "--processes", "2", "--resume", "--max-steps", "4")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    metrics = json.loads((tmp_path / "adapters" / "ddp" / "metrics.json").read_text())
    assert metrics["resumed_from_step"] == 2 and metrics["steps"] == 4
    assert [step for step, _ in metrics["loss_history"]] == [1, 2, 3, 4]

"""Training survives signals, kill -9, diverging losses and full disks, and resume is exact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

import higgs_lora
from higgs_lora import HiggsLoraError, RecipeError
from higgs_lora.core.errors import TrainingStopped
from higgs_lora.training.checkpoints import COMPLETE
from tests.helpers import smoke_recipe

pytestmark = pytest.mark.slow

RESUMABLE = "max_steps = 6\nsave_steps = 2\nsave_total_limit = 3"


def cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "higgs_lora", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def assert_same_run(resumed, reference, steps: int) -> None:
    """A resumed run equals the uninterrupted one: the loss of each of its `steps`, and the final adapter."""
    expected = dict(map(tuple, reference.metrics["loss_history"]))
    got = dict(map(tuple, resumed.metrics["loss_history"]))
    assert got.keys() == expected.keys() == set(range(1, steps + 1))
    for step in expected:
        assert got[step] == pytest.approx(expected[step], rel=1e-4), step
    final_a = load_file(str(reference.adapter_dir / "adapter_model.safetensors"))
    final_b = load_file(str(resumed.adapter_dir / "adapter_model.safetensors"))
    for key in final_a:
        torch.testing.assert_close(final_b[key], final_a[key], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_a_checkpoint_and_prints_the_resume_command(
    tmp_path: Path, codes_cache_dir: Path, signal_number: int
) -> None:
    recipe = smoke_recipe(tmp_path, codes_cache_dir, train="max_steps = 200\nsave_steps = 1000")
    adapter = tmp_path / "adapters" / "t"
    process = cli("train", str(recipe), cwd=tmp_path)
    wait_for(adapter / "logs", process)  # training has started
    time.sleep(1.0)
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == 128 + signal_number, stderr[-2000:]
    assert f"stopped by {signal.Signals(signal_number).name} after step" in stderr
    assert f"Resume with: higgs-lora train {recipe} --name t --resume" in stderr
    checkpoints = list((adapter / "checkpoints").glob("checkpoint-*"))
    assert len(checkpoints) == 1 and (checkpoints[0] / COMPLETE).is_file()
    assert not (adapter / "adapter_model.safetensors").exists()
    assert "Traceback" not in stderr


def test_resume_after_kill_9_reproduces_the_uninterrupted_run(tmp_path: Path, codes_cache_dir: Path) -> None:
    reference = higgs_lora.train(
        smoke_recipe(tmp_path / "a", codes_cache_dir, train=RESUMABLE), progress=False
    )

    recipe = smoke_recipe(tmp_path / "b", codes_cache_dir, train=RESUMABLE)
    checkpoints = tmp_path / "b" / "adapters" / "t" / "checkpoints"
    process = cli("train", str(recipe), cwd=tmp_path)
    wait_for(checkpoints / "checkpoint-4" / COMPLETE, process)
    process.kill()  # SIGKILL: no handler runs
    process.wait()
    # As if the kill had landed while the next checkpoint was being written:
    (checkpoints / "checkpoint-6").mkdir(exist_ok=True)
    (checkpoints / "checkpoint-6" / "adapter_model.safetensors").write_bytes(b"half a file")

    resumed = higgs_lora.train(recipe, resume=True, progress=False)
    assert resumed.metrics["resumed_from_step"] == 4
    assert_same_run(resumed, reference, steps=6)


# 12 smoke clips in batches of 2 are 6 steps an epoch: checkpoint-8 lies 2 batches into epoch 1, and the
# resumed run crosses into epoch 2 at step 13.
ACROSS_EPOCHS = "max_steps = 14\nsave_steps = 8\nsave_total_limit = 2"


def bucketed_recipe(folder: Path, codes_cache_dir: Path) -> Path:
    recipe = smoke_recipe(folder, codes_cache_dir, train=ACROSS_EPOCHS)
    recipe.write_text(recipe.read_text().replace("batch_size = 1", "batch_size = 2"))  # bucketing is on
    return recipe


def test_resume_in_a_later_epoch_with_length_buckets_reproduces_the_uninterrupted_run(
    tmp_path: Path, codes_cache_dir: Path
) -> None:
    """Each epoch's bucketed order must be the one the uninterrupted run drew for it, or the batches
    skipped on resume are not the ones trained (some clips twice, others never)."""
    reference = higgs_lora.train(bucketed_recipe(tmp_path / "a", codes_cache_dir), progress=False)
    assert reference.metrics["bucketed"] and reference.metrics["steps"] == 14

    recipe = bucketed_recipe(tmp_path / "b", codes_cache_dir)
    checkpoints = tmp_path / "b" / "adapters" / "t" / "checkpoints"
    process = cli("train", str(recipe), cwd=tmp_path)
    wait_for(checkpoints / "checkpoint-8" / COMPLETE, process)
    process.kill()  # SIGKILL, in epoch 1
    process.wait()

    resumed = higgs_lora.train(recipe, resume=True, progress=False)
    assert resumed.metrics["resumed_from_step"] == 8
    assert_same_run(resumed, reference, steps=14)


class PoisonAfterStep(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.step:
            with torch.no_grad():
                next(p for n, p in model.named_parameters() if "lora_B" in n).fill_(float("nan"))


def test_nan_loss_stops_and_names_the_last_good_checkpoint(tmp_path: Path, codes_cache_dir: Path) -> None:
    recipe = smoke_recipe(tmp_path, codes_cache_dir, train="max_steps = 8\nsave_steps = 2")
    with pytest.raises(TrainingStopped) as stopped:
        higgs_lora.train(recipe, callbacks=[PoisonAfterStep(3)], progress=False)
    message = str(stopped.value)
    checkpoint = tmp_path / "adapters" / "t" / "checkpoints" / "checkpoint-2"
    assert "loss became nan at step 4" in message
    assert f"Last good checkpoint: {checkpoint}." in message and "--resume" in message
    assert stopped.value.exit_code == 1
    assert (checkpoint / COMPLETE).is_file()
    assert not (tmp_path / "adapters" / "t" / "checkpoints" / "checkpoint-4").exists()


def test_full_disk_and_unwritable_output_fail_before_training(tmp_path: Path, codes_cache_dir: Path) -> None:
    recipe = smoke_recipe(tmp_path, codes_cache_dir, train="max_steps = 2")
    full = mock.Mock(free=1 << 20)
    started = time.monotonic()
    no_room = pytest.raises(
        HiggsLoraError, match=r"MB are needed for checkpoints and the adapter, 1 MB are free"
    )
    with mock.patch("higgs_lora.training.checkpoints.shutil.disk_usage", return_value=full), no_room:
        higgs_lora.train(recipe, progress=False)
    assert time.monotonic() - started < 60
    assert not (tmp_path / "adapters" / "t" / "checkpoints").exists()

    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the output folder should go")
    bad = smoke_recipe(tmp_path / "x", codes_cache_dir, train="max_steps = 2")
    bad.write_text(
        bad.read_text().replace(f'output_dir = "{tmp_path / "x" / "adapters"}"', f'output_dir = "{blocked}"')
    )
    with pytest.raises(HiggsLoraError, match="cannot write the adapter there"):
        higgs_lora.train(bad, progress=False)


def test_pickled_adapter_weights_need_trust(tmp_path: Path, codes_cache_dir: Path) -> None:
    trained = higgs_lora.train(smoke_recipe(tmp_path, codes_cache_dir, train="max_steps = 1"), progress=False)
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "adapter_config.json").write_text((trained.adapter_dir / "adapter_config.json").read_text())
    torch.save(
        load_file(str(trained.adapter_dir / "adapter_model.safetensors")), folder / "adapter_model.bin"
    )
    with pytest.raises(HiggsLoraError, match=r"adapter_model.bin, a pickle, .* --trust-pickle"):
        higgs_lora.load_adapter(folder)
    with pytest.raises(HiggsLoraError, match="--trust-pickle"):
        higgs_lora.merge(folder, out=tmp_path / "m")
    model = higgs_lora.load_adapter(folder, trust_pickle=True)
    assert any("lora_A" in name for name, _ in model.named_parameters())
    assert json.loads((trained.adapter_dir / "adapter_config.json").read_text())["r"] == 8


def test_nothing_in_a_recipe_is_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        f"name = \"__import__('os').system('touch {marker}')\"\n[data]\npath = \"$(touch {marker})\"\n",
        encoding="utf-8",
    )
    with pytest.raises(RecipeError, match="name"):
        higgs_lora.load_recipe(recipe)
    assert not marker.exists()

"""What the studio added to the public API, without a browser: recipes from the form's choices, a run's
progress read from its files, and the project folder's confinement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from higgs_lora import HiggsLoraError, RecipeError, load_recipe, read_progress, recipe_toml, starter_recipe
from higgs_lora.studio.project import OutsideProject, Project
from higgs_lora.training.checkpoints import COMPLETE


def test_starter_recipe_takes_the_shipped_recipes_settings_and_reads_back_the_same(tmp_path: Path) -> None:
    source = tmp_path / "recipes" / "ann.toml"
    small = starter_recipe("ann", "../data/ann", gpu_memory_gb=12, source=source)
    large = starter_recipe("ann", "../data/ann", gpu_memory_gb=24, voice_clone=True, source=source)
    tiny = starter_recipe("ann", "../data/ann", base="tiny-random", max_steps=8, source=source)
    assert (small.lora.r, small.data.max_seconds, small.train.grad_accumulation) == (16, 15.0, 16)
    assert (large.lora.r, large.data.max_seconds, large.data.reference) == (32, 30.0, "same_speaker")
    assert (tiny.model.audio_tokenizer, tiny.train.save_steps, tiny.samples.every_steps) == (
        "tiny-random",
        2,
        2,
    )
    source.parent.mkdir()
    source.write_text(recipe_toml(small), encoding="utf-8")
    assert load_recipe(source).model_dump() == small.model_dump()
    assert small.data_path == (tmp_path / "data" / "ann").resolve()


def test_starter_recipe_refuses_a_bad_choice_as_load_recipe_would(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"\[train\] max_steps = 0"):
        starter_recipe("ann", "../data/ann", max_steps=0, source=tmp_path / "ann.toml")
    with pytest.raises(RecipeError, match="name"):
        starter_recipe("a b", "../data/ann", source=tmp_path / "ann.toml")


def test_read_progress_follows_what_training_writes(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    out = tmp_path / "adapters" / "ann"
    assert read_progress(out, max_steps=10).as_dict()["step"] == 0  # nothing written yet
    writer = SummaryWriter(str(out / "logs"))
    for step in range(1, 6):
        writer.add_scalar("train/loss", 10.0 - step, step, walltime=1000.0 + 2 * step)
    writer.close()
    for step, done in ((4, True), (6, False)):  # a complete checkpoint, and one being written
        folder = out / "checkpoints" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text(json.dumps({"max_steps": 20}))
        if done:
            (folder / COMPLETE).touch()
    (out / "samples" / "step-4").mkdir(parents=True)
    (out / "samples" / "step-4" / "00.wav").write_bytes(b"RIFF")
    progress = read_progress(out, max_steps=10)
    assert progress.losses == [(1, 9.0), (2, 8.0), (3, 7.0), (4, 6.0), (5, 5.0)]
    assert (progress.step, progress.max_steps, progress.checkpoints) == (5, 20, ["checkpoint-4"])
    assert progress.steps_per_second == pytest.approx(0.5) and progress.eta_seconds == pytest.approx(30.0)
    assert progress.samples == {4: ["samples/step-4/00.wav"]} and not progress.finished
    writer = SummaryWriter(str(out / "logs"))  # resumed an hour later: the pause is not training time
    for step in range(6, 9):
        writer.add_scalar("train/loss", 4.0, step, walltime=5000.0 + 2 * step)
    writer.close()
    assert read_progress(out).steps_per_second == pytest.approx(0.5)


def test_project_confines_every_path(tmp_path: Path) -> None:
    project = Project(tmp_path / "p")
    (tmp_path / "secret").write_text("x")
    (project.root / "data" / "out").symlink_to(tmp_path / "secret")
    assert project.confine("data/../recipes") == project.root / "recipes"
    for path in ("../secret", str(tmp_path / "secret"), "data/out", "data/../../secret", ""):
        with pytest.raises(OutsideProject):
            project.confine(path)
    with pytest.raises(HiggsLoraError, match="data set name '../x'"):
        Project.check_name("../x", "data set")


def test_keep_checkpoint_makes_a_step_an_adapter_of_its_own(tmp_path: Path) -> None:
    from higgs_lora import OutputExistsError, keep_checkpoint

    run = tmp_path / "adapters" / "ann"
    checkpoint = run / "checkpoints" / "checkpoint-4"
    checkpoint.mkdir(parents=True)
    (checkpoint / "adapter_model.safetensors").write_bytes(b"step four")
    (checkpoint / "trainer_state.json").write_text(
        json.dumps({"log_history": [{"loss": 3.0}, {"loss": 2.5}]})
    )
    with pytest.raises(HiggsLoraError, match="not a complete checkpoint"):
        keep_checkpoint(run, "checkpoint-4")
    (checkpoint / COMPLETE).touch()
    with pytest.raises(HiggsLoraError, match="has not finished"):
        keep_checkpoint(run, "checkpoint-4")
    for file in ("adapter_config.json", "recipe.toml"):
        (run / file).write_text(file)
    with pytest.raises(HiggsLoraError, match=r"no checkpoint 'checkpoint-9' .*\(there: checkpoint-4\)"):
        keep_checkpoint(run, "checkpoint-9")
    kept = keep_checkpoint(run, "checkpoint-4")
    assert kept == tmp_path / "adapters" / "ann-step-4"
    assert (kept / "adapter_model.safetensors").read_bytes() == b"step four"
    assert (kept / "recipe.toml").read_text() == "recipe.toml"
    assert json.loads((kept / "metrics.json").read_text())["steps"] == 4
    with pytest.raises(OutputExistsError):
        keep_checkpoint(run, "checkpoint-4")
    assert keep_checkpoint(run, "checkpoint-4", name="best", force=True).name == "best"
    assert sorted(p.name for p in (tmp_path / "adapters").iterdir()) == ["ann", "ann-step-4", "best"]

"""The recipe schema: valid recipes load, and every bad one gets a message naming file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from higgs_lora import RecipeError, load_recipe
from higgs_lora.core.recipe import recipe_toml

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("recipe", sorted((REPO / "recipes").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_recipes_validate(recipe: Path) -> None:
    loaded = load_recipe(recipe)
    assert loaded.train.gradient_checkpointing and loaded.model.quantization == "nf4"
    if recipe.stem.startswith("higgs3-"):  # Higgs TTS 3 recipes (docs/higgs3.md)
        assert loaded.model.base == "bosonai/higgs-tts-3-4b" and loaded.model.backend == "higgs3"
    elif recipe.stem != "smoke":  # the real-GPU recipes train the real checkpoint
        assert loaded.model.base == "bosonai/higgs-tts-2-3b-base"  # the current hub id


def test_defaults_and_relative_data_path(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, 'name = "x"\n[data]\npath = "clips"\n'))
    assert recipe.model.quantization == "nf4"
    assert recipe.lora.targets == ["attention", "audio_ffn"]
    assert recipe.data_path == (tmp_path / "clips").resolve()
    assert recipe.adapter_dir == Path("adapters") / "x"


def test_typo_gets_nearest_key_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'name = "x"\n[data]\npath = "d"\n\n[train]\nlearning_rte = 1e-4\n')
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert f'{path}:6 [train]: unknown key "learning_rte". Did you mean "learning_rate"?' in str(err.value)


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'name = "x"\n[model]\nquantization = "int3"\n[lora]\nr = 0\ndropout = "lots"\n[train]\nbatch_size = 2\n',
    )
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    message = str(err.value)
    assert f"{path}:3 [model] quantization = 'int3': Input should be 'nf4', 'fp4' or 'none'." in message
    assert f"{path}:5 [lora] r = 0: Input should be greater than or equal to 1." in message
    assert f"{path}:6 [lora] dropout = 'lots'" in message
    assert '[data]: required key "data" is missing' not in message
    assert 'required key "data" is missing' in message


def test_cross_field_and_regex_checks(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'name = "x"\n[lora]\ntarget_regex = "layers.(["\n[data]\npath = "d"\nmin_seconds = 5\nmax_seconds = 2\n',
    )
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    message = str(err.value)
    assert "[lora] target_regex = 'layers.([': not a valid regular expression" in message
    assert "[data]: min_seconds (5.0) must be below max_seconds (2.0)" in message


def test_name_cannot_escape_adapters(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"\(top level\) name = '../evil'"):
        load_recipe(write(tmp_path, 'name = "../evil"\n[data]\npath = "d"\n'))


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="not valid TOML"):
        load_recipe(write(tmp_path, 'name = "x\n'))
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.toml")


def test_overrides_are_validated_too(tmp_path: Path) -> None:
    path = write(tmp_path, 'name = "x"\n[data]\npath = "d"\n')
    assert load_recipe(path, {"train.max_steps": 7, "name": "y"}).train.max_steps == 7
    with pytest.raises(RecipeError, match=r"\[train\] max_steps = 0"):
        load_recipe(path, {"train.max_steps": 0})


def test_saved_recipe_round_trips(tmp_path: Path) -> None:
    recipe = load_recipe(REPO / "recipes" / "smoke.toml")
    again = write(tmp_path, recipe_toml(recipe))
    assert load_recipe(again).model_dump(exclude={"source"}) == recipe.model_dump(exclude={"source"})

"""Today's hub names: Higgs v2 is `bosonai/higgs-tts-2-3b-base`, and its former id (which the hub redirects)
still means the official checkpoint everywhere: pins, `auto`, plan, conversion, cards, loading. Runs in
both environments, each on its own backend."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from higgs_lora.adapter.setup import recipe_setup
from higgs_lora.backends import default, get, resolve
from higgs_lora.conversion.adapters import _revision_for
from higgs_lora.conversion.cards import merged_card
from higgs_lora.core.downloads import planned_downloads
from higgs_lora.core.hub import (
    ALIASES,
    AUDIO_TOKENIZER_ID,
    BASE_ID,
    PINNED_REVISIONS,
    cached_spelling,
    canonical,
    layout_message,
    read_config,
)
from higgs_lora.core.recipe import load_recipe
from higgs_lora.core.schema import ModelConfig, Recipe
from tests.helpers import REPO
from tests.hubcache import add_snapshot, point_hub_cache

FORMER = "bosonai/higgs-audio-v2-generation-3B-base"
NAMES = [BASE_ID, FORMER]
PIN = PINNED_REVISIONS[BASE_ID]
NATIVE_MAIN = "f" * 40


def recipe(**model) -> Recipe:
    return Recipe.model_validate({"name": "x", "model": model, "data": {"path": "d"}})


def resolved(**model) -> ModelConfig:
    """The `[model]` a command runs with (layouts are checked in the loading test)."""
    return recipe_setup(recipe(**model), check_layouts=False).model


def test_the_default_is_todays_name_and_the_former_one_an_alias() -> None:
    assert BASE_ID == "bosonai/higgs-tts-2-3b-base" == ModelConfig().base
    assert ALIASES[FORMER] == BASE_ID and canonical(FORMER) == canonical(BASE_ID) == BASE_ID
    assert ALIASES["bosonai/higgs-audio-v3-tts-4b"] == "bosonai/higgs-tts-3-4b"  # Higgs TTS 3, renamed too
    assert canonical("someone/higgs-finetune") == "someone/higgs-finetune"
    assert AUDIO_TOKENIZER_ID == "bosonai/higgs-audio-v2-tokenizer"  # not renamed
    for file in sorted((REPO / "recipes").glob("*.toml")):
        if file.stem != "smoke":
            expected = "bosonai/higgs-tts-3-4b" if file.stem.startswith("higgs3-") else BASE_ID
            assert load_recipe(file).model.base == expected, file.name


@pytest.mark.parametrize("name", NAMES)
def test_either_name_is_the_official_checkpoint_on_both_backends(name: str) -> None:
    boson = resolved(base=name, backend="boson")
    assert (boson.base, boson.revision) == (name, PIN), "boson: the pinned boson-layout snapshot"
    assert boson.audio_tokenizer_revision == PINNED_REVISIONS[AUDIO_TOKENIZER_ID]
    native = resolved(base=name, backend="native")
    assert native.revision is None and native.audio_tokenizer_revision is None, "native: main"
    # auto decides without asking the hub (offline here, nothing cached): the official id is both layouts
    assert resolve(ModelConfig(base=name)) == default()
    assert resolve(ModelConfig(base=name, revision=PIN)) == "boson"
    # conversion moves the official revision with the layout
    assert _revision_for(name, "boson", None) == PIN and _revision_for(name, "native", PIN) is None
    assert _revision_for("someone/x", "native", "abc") == "abc"
    message = layout_message("[model] base", name, "main", "model_type 'higgs_audio_v2'", "native")
    assert f"[model] base = {name!r} at revision 'main'" in message and f'revision = "{PIN}"' in message


def test_plan_knows_the_official_architecture_under_either_name_offline() -> None:
    from higgs_lora.verbs.plan import plan_recipe

    plans = [plan_recipe(recipe(base=name, quantization="nf4")) for name in NAMES]
    assert plans[0].training.total == plans[1].training.total > 0
    assert [p.downloads[0].repo for p in plans] == NAMES  # nothing cached: each fetched as it is named
    assert [p.recipe.model.revision for p in plans] == [resolved(base=BASE_ID).revision] * 2


def test_the_cards_name_todays_id(tmp_path: Path) -> None:
    from higgs_lora.training.report import write_model_card

    metrics = {"train_examples": 3, "eval_examples": 0, "audio_minutes": 0.1, "steps": 2, "first_loss": 9.0,
               "final_loss": 8.0, "eval_loss": None}  # fmt: skip
    write_model_card(tmp_path, recipe(base=FORMER), metrics)
    card = (tmp_path / "README.md").read_text()
    assert f"\nbase_model: {BASE_ID}\n" in card  # the hub's model tree links the current repo
    assert f"`{FORMER}` (now `{BASE_ID}`) at revision" in card
    write_model_card(tmp_path, recipe(base=BASE_ID), metrics)
    assert "(now " not in (tmp_path / "README.md").read_text()
    result = SimpleNamespace(base=FORMER, base_revision=PIN, audio_tokenizer=AUDIO_TOKENIZER_ID,
                             audio_tokenizer_revision=None, dtype="fp32", kept=1.0, kept_text=1.0,
                             out=tmp_path / "merged")  # fmt: skip
    assert f"Base `{FORMER}` (now `{BASE_ID}`) (revision `{PIN}`)" in merged_card("boson", result, tmp_path)


def test_a_snapshot_cached_under_either_name_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A cache filled under the former id before the rename serves the current one (same repo, same
    commit): no second download, and offline runs still find it."""
    home = tmp_path / "hf"
    point_hub_cache(monkeypatch, home)
    assert cached_spelling(BASE_ID, PIN) == BASE_ID, "nothing cached: as named"
    add_snapshot(home, FORMER, PIN, {"config.json": {"model_type": "higgs_audio"}}, main=False)
    assert cached_spelling(BASE_ID, PIN) == cached_spelling(FORMER, PIN) == FORMER
    assert read_config(BASE_ID, PIN, "[model] base")["model_type"] == "higgs_audio"  # offline
    assert planned_downloads(resolved(base=BASE_ID, backend="boson"))[0].repo == FORMER
    assert cached_spelling(BASE_ID, None) == BASE_ID, "main is not cached under either id"
    add_snapshot(home, BASE_ID, PIN, {"config.json": {"model_type": "higgs_audio"}}, main=False)
    assert cached_spelling(BASE_ID, PIN) == BASE_ID and cached_spelling(FORMER, PIN) == FORMER
    assert cached_spelling("someone/x", PIN) == "someone/x"


@pytest.mark.parametrize("cached_as", NAMES)
@pytest.mark.parametrize("name", NAMES)
def test_either_name_loads_the_official_snapshot_on_this_backend(
    name: str, cached_as: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The official checkpoint as this environment's backend reads it (boson: the pinned snapshot;
    native: main), cached under either id, loaded offline under either id, layouts checked."""
    from higgs_lora.model import load_base_model, load_text_tokenizer

    backend = get(default())
    home = tmp_path / "hf"
    point_hub_cache(monkeypatch, home)
    on_boson = backend.name == "boson"
    snapshot = add_snapshot(home, cached_as, PIN if on_boson else NATIVE_MAIN, {}, main=not on_boson)
    shutil.copytree(backend.tiny_model_dir(), snapshot, dirs_exist_ok=True)
    setup = recipe_setup(recipe(base=name, audio_tokenizer="tiny-random", quantization="none"))
    assert (setup.model.backend, setup.model.revision) == (backend.name, PIN if on_boson else None)
    model = load_base_model(setup.model)
    assert backend.codebooks(model.config) == (4, 1024)
    assert load_text_tokenizer(setup.model).convert_tokens_to_ids("<|AUDIO_OUT|>") == 128016

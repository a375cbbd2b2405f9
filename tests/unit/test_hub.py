"""Revisions and layouts: the official ids pin their boson-layout snapshots; a native layout is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from higgs_lora.adapter.setup import recipe_setup
from higgs_lora.backends import installed
from higgs_lora.backends.boson.audio import audio_tokenizer_folder
from higgs_lora.core.downloads import Download, describe_downloads, planned_downloads
from higgs_lora.core.errors import ModelError
from higgs_lora.core.hub import AUDIO_TOKENIZER_ID, BASE_ID, PINNED_REVISIONS, LayoutError, check_model_layout
from higgs_lora.core.recipe import load_recipe, recipe_toml
from higgs_lora.core.schema import ModelConfig, Recipe


def resolved(**model) -> ModelConfig:
    """The `[model]` a command runs with: the setup resolved from a recipe (layouts are checked elsewhere)."""
    recipe = Recipe.model_validate({"name": "x", "model": model, "data": {"path": "d"}})
    return recipe_setup(recipe, check_layouts=False).model


def test_official_ids_default_to_their_pinned_revisions_on_boson_and_main_on_native() -> None:
    config = resolved(backend="boson")
    assert config.revision == PINNED_REVISIONS[BASE_ID] == "10840182ca4ad5d9d9113b60b9bb3c1ef1ba3f84"
    assert config.audio_tokenizer_revision == PINNED_REVISIONS[AUDIO_TOKENIZER_ID]
    native = resolved(backend="native")
    assert native.revision is None and native.audio_tokenizer_revision is None  # the hub's main
    # auto: what this environment runs (the default one has boson; the native one reads main)
    assert resolved().revision == (PINNED_REVISIONS[BASE_ID] if "boson" in installed() else None)
    assert resolved(backend="boson", revision="main").revision == "main", "an explicit revision wins"
    other = resolved(base="someone/higgs-finetune", audio_tokenizer="tiny-random", backend="boson")
    assert other.revision is None and other.audio_tokenizer_revision is None
    assert resolved(base="tiny-random").revision is None


def test_the_schema_validates_the_same_whatever_is_installed() -> None:
    """The recipe says what it says: backend and revisions are decided when a command runs."""
    assert ModelConfig(backend="boson").revision is None
    assert ModelConfig().backend == "auto" and ModelConfig().audio_tokenizer_revision is None


def test_the_recorded_recipe_carries_the_revisions(tmp_path: Path) -> None:
    file = tmp_path / "r.toml"
    file.write_text('name = "x"\n[model]\nbackend = "boson"\n[data]\npath = "d"\n')
    recipe = load_recipe(file)
    recipe.model = recipe_setup(recipe, check_layouts=False).model  # as train records it
    text = recipe_toml(recipe)
    assert f'revision = "{PINNED_REVISIONS[BASE_ID]}"' in text
    assert f'audio_tokenizer_revision = "{PINNED_REVISIONS[AUDIO_TOKENIZER_ID]}"' in text


def test_a_native_layout_checkpoint_is_refused_naming_both_ways_out(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "higgs_audio_v2", "hidden_size": 8}))
    with pytest.raises(LayoutError) as caught:
        check_model_layout(str(tmp_path), None)
    message = str(caught.value)
    assert "transformers-native layout (model_type 'higgs_audio_v2')" in message
    assert "[model] revision" in message and '[model] backend = "native"' in message
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ModelError, match="'llama' model; Higgs Audio v2 checkpoints"):
        check_model_layout(str(tmp_path), None)


def test_an_audio_tokenizer_without_model_pth_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"sample_rate": 24000}))
    with pytest.raises(LayoutError, match="no model.pth"):
        audio_tokenizer_folder(str(tmp_path), None)
    (tmp_path / "model.pth").write_bytes(b"x")
    assert audio_tokenizer_folder(str(tmp_path), None) == tmp_path


def test_downloads_are_listed_with_revision_and_what_is_known_of_their_size() -> None:
    config = resolved(backend="boson")
    downloads = planned_downloads(config, estimated_base_bytes=11 * 2**30)
    assert [(d.repo, d.revision) for d in downloads] == [
        (BASE_ID, PINNED_REVISIONS[BASE_ID]),
        (AUDIO_TOKENIZER_ID, PINNED_REVISIONS[AUDIO_TOKENIZER_ID]),
        ("bosonai/hubert_base", "main"),
    ]
    text = describe_downloads(downloads)  # offline in tests: nothing cached, no hub metadata
    assert (
        f"{BASE_ID} @ 10840182" in text and "11.0 GiB to download (estimated from the architecture)" in text
    )
    assert "size unknown offline" in text
    assert describe_downloads(
        planned_downloads(ModelConfig(base="tiny-random", audio_tokenizer="tiny-random"))
    ) == ("hub downloads: none (local folders)")
    assert "cached (1.5 GiB)" in Download("a/b", "main", "model", 3 * 2**29, None).describe()

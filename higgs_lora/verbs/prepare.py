"""`prepare`: encode a recipe's clips into the codes cache, with the audio tokenizer its setup names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from higgs_lora.adapter.setup import recipe_setup
from higgs_lora.core.recipe import load_recipe
from higgs_lora.core.schema import Recipe
from higgs_lora.data.prepare import PreparedData, prepare_clips
from higgs_lora.model.load import audio_tokenizer_fingerprint, load_audio_tokenizer


def prepare(recipe: Recipe | str | Path, audio_tokenizer: Any = None, progress: bool = True) -> PreparedData:
    """Encode what the cache lacks; `audio_tokenizer` is loaded from the recipe only when a clip needs it.

    The setup is resolved first: codes from a tokenizer the model cannot read would be wasted work."""
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    recipe.model = recipe_setup(recipe).model
    return encode(recipe, audio_tokenizer, progress)


def encode(recipe: Recipe, audio_tokenizer: Any = None, progress: bool = True) -> PreparedData:
    """`prepare` for a recipe whose `[model]` is already a resolved setup's (train resolves it once)."""

    def load() -> Any:
        if audio_tokenizer is not None:
            return audio_tokenizer
        import torch

        return load_audio_tokenizer(recipe.model, "cuda" if torch.cuda.is_available() else "cpu")

    return prepare_clips(recipe, audio_tokenizer_fingerprint(recipe.model), load, progress)

"""`plan`: a recipe's predicted peak memory for training and for every verb around it, before any weight
loads, with what it downloads. Its setup is resolved once (backend, revisions) and every estimate uses it;
layouts are not checked here, so planning the official model works offline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from higgs_lora.adapter.setup import recipe_setup
from higgs_lora.core.downloads import Download, planned_downloads
from higgs_lora.core.errors import HiggsLoraError
from higgs_lora.core.recipe import load_recipe
from higgs_lora.core.schema import Recipe
from higgs_lora.planning.inference import VerbPlan, plan_verbs
from higgs_lora.planning.training import MemoryPlan, plan


@dataclass
class RecipePlan:
    """What `higgs-lora plan` prints: the training step, each verb, and the downloads."""

    recipe: Recipe
    training: MemoryPlan
    verbs: list[VerbPlan]
    downloads: list[Download]


def plan_recipe(
    recipe: Recipe | str | Path, gpu_memory: str | int | None = None, ref_seconds: float | None = None
) -> RecipePlan:
    """Plan training `recipe` (and listening, speaking and merging what it trains) on a `gpu_memory` card."""
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    recipe.model = recipe_setup(recipe, check_layouts=False).model
    try:
        training = plan(recipe, gpu_memory, ref_seconds)
    except ValueError as err:
        raise HiggsLoraError(f"--gpu-memory: {err}") from None
    verbs = plan_verbs(recipe, training.budget)
    return RecipePlan(recipe, training, verbs, planned_downloads(recipe.model, training.checkpoint_bytes))

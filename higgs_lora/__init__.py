"""higgs-lora: QLoRA fine-tuning of Higgs Audio v2 on one GPU (or a CPU, for the tiny model).

Everything the CLI does is a function here:

    import higgs_lora
    recipe = higgs_lora.load_recipe("recipes/smoke.toml")
    result = higgs_lora.train(recipe)           # adapters/smoke/
    model = higgs_lora.load_adapter(result.adapter_dir)
    higgs_lora.merge("adapters/smoke")         # adapters/smoke/merged/
    higgs_lora.convert_adapter("adapters/smoke", to="native")  # adapters/smoke-native/
    higgs_lora.speak("Hello.", adapter="adapters/smoke", out="hello.wav")
    higgs_lora.build_dataset(["podcast.mp3"], "data/my-voice")   # recordings → clips + manifest
    higgs_lora.evaluate_adapter("adapters/smoke")  # adapters/smoke/eval/: WER, similarity, stopping
    higgs_lora.read_progress("adapters/smoke")  # a run's steps, losses, speed, ETA, from its files

This package is the top of the house (docs/architecture.md): it imports from every layer and nothing
imports it. Names are loaded on first use, so `import higgs_lora` costs nothing until one is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from higgs_lora.core.version import __version__

# public name → the module that defines it
_API = {
    "AdapterInfo": "higgs_lora.adapter.files",
    "list_adapters": "higgs_lora.adapter.files",
    "read_adapter": "higgs_lora.adapter.files",
    "load_adapter": "higgs_lora.adapter.fit",
    "keep_checkpoint": "higgs_lora.adapter.keep",
    "TrainedSetup": "higgs_lora.adapter.setup",
    "adapter_setup": "higgs_lora.adapter.setup",
    "recipe_setup": "higgs_lora.adapter.setup",
    "HiggsAudioForLoRA": "higgs_lora.backends.boson.shim",  # boson environment only
    "Speech": "higgs_lora.backends.speech",
    "make_speaker": "higgs_lora.backends.speech",
    "convert_adapter": "higgs_lora.conversion.adapters",
    "Transcriber": "higgs_lora.asr",
    "DataError": "higgs_lora.core.errors",
    "HiggsLoraError": "higgs_lora.core.errors",
    "ModelError": "higgs_lora.core.errors",
    "OutputExistsError": "higgs_lora.core.errors",
    "RecipeError": "higgs_lora.core.errors",
    "load_recipe": "higgs_lora.core.recipe",
    "recipe_toml": "higgs_lora.core.recipe",
    "starter_recipe": "higgs_lora.core.starter",
    "Recipe": "higgs_lora.core.schema",
    "build_dataset": "higgs_lora.dataset.build",
    "check_dataset": "higgs_lora.dataset.check",
    "save_dataset_edits": "higgs_lora.dataset.review",
    "EvalReport": "higgs_lora.evaluate.report",
    "higgs_loss": "higgs_lora.higgs.loss",
    "TrainProgress": "higgs_lora.training.progress",
    "read_progress": "higgs_lora.training.progress",
    "MemoryPlan": "higgs_lora.planning.training",
    "plan": "higgs_lora.planning.training",
    "evaluate_adapter": "higgs_lora.verbs.evaluate",
    "ChecksumError": "higgs_lora.verbs.export",
    "export": "higgs_lora.verbs.export",
    "import_adapter": "higgs_lora.verbs.export",
    "verify_checksums": "higgs_lora.verbs.export",
    "MergeMismatchError": "higgs_lora.verbs.merge",
    "MergeResult": "higgs_lora.verbs.merge",
    "merge": "higgs_lora.verbs.merge",
    "RecipePlan": "higgs_lora.verbs.plan",
    "plan_recipe": "higgs_lora.verbs.plan",
    "prepare": "higgs_lora.verbs.prepare",
    "speak": "higgs_lora.verbs.speak",
    "TrainResult": "higgs_lora.verbs.train",
    "train": "higgs_lora.verbs.train",
}
_RENAMED = {"save_dataset_edits": "save_edits"}

__all__ = [
    "AdapterInfo",
    "ChecksumError",
    "DataError",
    "EvalReport",
    "HiggsAudioForLoRA",
    "HiggsLoraError",
    "MemoryPlan",
    "MergeMismatchError",
    "MergeResult",
    "ModelError",
    "OutputExistsError",
    "Recipe",
    "RecipeError",
    "RecipePlan",
    "Speech",
    "TrainProgress",
    "TrainResult",
    "TrainedSetup",
    "Transcriber",
    "__version__",
    "adapter_setup",
    "build_dataset",
    "check_dataset",
    "convert_adapter",
    "evaluate_adapter",
    "export",
    "higgs_loss",
    "import_adapter",
    "keep_checkpoint",
    "list_adapters",
    "load_adapter",
    "load_recipe",
    "make_speaker",
    "merge",
    "plan",
    "plan_recipe",
    "prepare",
    "read_adapter",
    "read_progress",
    "recipe_setup",
    "recipe_toml",
    "save_dataset_edits",
    "speak",
    "starter_recipe",
    "train",
    "verify_checksums",
]

if TYPE_CHECKING:
    from higgs_lora.adapter.files import AdapterInfo, list_adapters, read_adapter
    from higgs_lora.adapter.fit import load_adapter
    from higgs_lora.adapter.keep import keep_checkpoint
    from higgs_lora.adapter.setup import TrainedSetup, adapter_setup, recipe_setup
    from higgs_lora.asr import Transcriber
    from higgs_lora.backends.boson.shim import HiggsAudioForLoRA
    from higgs_lora.backends.speech import Speech, make_speaker
    from higgs_lora.conversion.adapters import convert_adapter
    from higgs_lora.core.errors import DataError, HiggsLoraError, ModelError, OutputExistsError, RecipeError
    from higgs_lora.core.recipe import load_recipe, recipe_toml
    from higgs_lora.core.schema import Recipe
    from higgs_lora.core.starter import starter_recipe
    from higgs_lora.dataset.build import build_dataset
    from higgs_lora.dataset.check import check_dataset
    from higgs_lora.dataset.review import save_edits as save_dataset_edits
    from higgs_lora.evaluate.report import EvalReport
    from higgs_lora.higgs.loss import higgs_loss
    from higgs_lora.planning.training import MemoryPlan, plan
    from higgs_lora.training.progress import TrainProgress, read_progress
    from higgs_lora.verbs.evaluate import evaluate_adapter
    from higgs_lora.verbs.export import ChecksumError, export, import_adapter, verify_checksums
    from higgs_lora.verbs.merge import MergeMismatchError, MergeResult, merge
    from higgs_lora.verbs.plan import RecipePlan, plan_recipe
    from higgs_lora.verbs.prepare import prepare
    from higgs_lora.verbs.speak import speak
    from higgs_lora.verbs.train import TrainResult, train


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), _RENAMED.get(name, name))
        globals()[name] = value  # once: later lookups skip this function
        return value
    raise AttributeError(f"module 'higgs_lora' has no attribute {name!r}")

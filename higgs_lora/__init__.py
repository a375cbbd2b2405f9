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

Heavy libraries (torch, transformers, peft) are imported on first use, not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Functions that share a name with a submodule (`train`) are imported eagerly: importing the
# submodule later would otherwise rebind the package attribute to the module. Their modules keep
# heavy imports inside functions, so this stays cheap.
from higgs_lora.adapter import AdapterInfo, list_adapters, load_adapter, read_adapter
from higgs_lora.backends.layouts import convert_adapter
from higgs_lora.errors import DataError, HiggsLoraError, ModelError, OutputExistsError, RecipeError
from higgs_lora.export import ChecksumError, export, import_adapter, verify_checksums
from higgs_lora.merge import MergeMismatchError, MergeResult, merge
from higgs_lora.plan import MemoryPlan, plan
from higgs_lora.recipe import Recipe, load_recipe
from higgs_lora.speak import Speech, make_speaker, speak
from higgs_lora.train import TrainResult, train

__version__ = "0.1.0"

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
    "Speech",
    "TrainResult",
    "Transcriber",
    "build_dataset",
    "check_dataset",
    "convert_adapter",
    "evaluate_adapter",
    "export",
    "higgs_loss",
    "import_adapter",
    "list_adapters",
    "load_adapter",
    "load_recipe",
    "make_speaker",
    "merge",
    "plan",
    "prepare",
    "read_adapter",
    "save_dataset_edits",
    "speak",
    "train",
    "verify_checksums",
]

_LAZY = {
    "prepare": ("data.prepare", "prepare"),
    "HiggsAudioForLoRA": ("backends.boson.shim", "HiggsAudioForLoRA"),  # boson environment only
    "higgs_loss": ("loss", "higgs_loss"),
    "build_dataset": ("dataset.build", "build_dataset"),
    "check_dataset": ("dataset.check", "check_dataset"),
    "save_dataset_edits": ("dataset.review", "save_edits"),
    "Transcriber": ("asr", "Transcriber"),
    "evaluate_adapter": ("evaluate.run", "evaluate_adapter"),
    "EvalReport": ("evaluate.run", "EvalReport"),
}

if TYPE_CHECKING:
    from higgs_lora.asr import Transcriber
    from higgs_lora.backends.boson.shim import HiggsAudioForLoRA
    from higgs_lora.data.prepare import prepare
    from higgs_lora.dataset.build import build_dataset
    from higgs_lora.dataset.check import check_dataset
    from higgs_lora.dataset.review import save_edits as save_dataset_edits
    from higgs_lora.evaluate.run import EvalReport, evaluate_adapter
    from higgs_lora.loss import higgs_loss


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attribute)
    raise AttributeError(f"module 'higgs_lora' has no attribute {name!r}")

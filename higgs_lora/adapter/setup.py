"""The trained setup: what a command runs on, resolved once and handed down.

Every command that loads Higgs (train, prepare, plan, speak, merge, eval) starts here. A recipe, an
adapter folder or a merged checkpoint folder becomes one `TrainedSetup`: the `[model]` with its backend
decided (never "auto"), its hub revisions resolved for that backend, its layouts checked, and the system
prompt it was trained with. The recipe and `config.json` are read here, once; everything below takes the
resolved value and never asks again.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from higgs_lora.adapter.files import ADAPTER_WEIGHTS, adapter_config
from higgs_lora.backends import INSTALL, decide, get, layout_backend, missing
from higgs_lora.core.errors import HiggsLoraError, ModelError
from higgs_lora.core.hub import (
    AUDIO_TOKENIZER_ID,
    TINY,
    canonical,
    check_audio_tokenizer_layout,
    check_model_layout,
    pinned_for,
    pinned_revision,
)
from higgs_lora.core.schema import DEFAULT_SYSTEM_PROMPT, ModelConfig

if TYPE_CHECKING:
    from higgs_lora.backends.base import Backend
    from higgs_lora.core.schema import Recipe
    from higgs_lora.model.load import Runtime

MERGE_RECORD = "higgs_lora_merge.json"
# What identifies the weights an adapter was trained on; loading settings are the caller's.
_SOURCE_KEYS = (
    "base",
    "backend",
    "revision",
    "audio_tokenizer",
    "audio_tokenizer_revision",
    "semantic_teacher",
)


@dataclass(frozen=True)
class TrainedSetup:
    """The base, backend, revisions, quantization and system prompt one command runs with."""

    model: ModelConfig
    """`[model]` with `backend` decided and the revisions this backend reads filled in."""
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    adapter: Path | None = None
    """The adapter folder it was resolved from (None for a recipe or a merged folder)."""
    recorded: dict[str, Any] = field(default_factory=dict, compare=False)
    """The adapter's recipe.toml as saved by training ({} when there is none)."""
    base_config: dict[str, Any] | None = field(default=None, compare=False)
    """The base's config.json, as read when its layout was checked (None for the tiny model)."""
    runtime: Runtime | None = field(default=None, compare=False)
    """Where and in which dtype it runs, once a command has decided (`speech_setup`)."""

    @property
    def backend(self) -> Backend:
        return get(self.model.backend)

    def loading(self, **settings: Any) -> TrainedSetup:
        """The same weights loaded otherwise (`quantization`, `compute_dtype`, `audio_tokenizer`)."""
        model = self.model.model_copy(update={k: v for k, v in settings.items() if v is not None})
        return replace(self, model=model)


def recipe_setup(recipe: Recipe, check_layouts: bool = True) -> TrainedSetup:
    """A recipe's setup: the backend `auto` names, the revisions it reads, and (`check_layouts`) both
    layouts checked; `plan` skips the check, as it must work offline from the architecture it ships."""
    return _setup(recipe.model, recipe.data.system_prompt, check_layouts)


def adapter_setup(
    adapter_dir: str | Path, base: str | None = None, *, trust_pickle: bool = True, **loading: Any
) -> TrainedSetup:
    """The setup an adapter was trained with, from its recipe.toml: merging, speaking and evaluating load
    exactly those weights (a checkpoint folder: its run's recipe.toml). `base` replaces the base (and drops its recorded revision); `loading` sets
    quantization / compute_dtype."""
    folder = Path(adapter_dir)
    peft_config = adapter_config(folder, trust_pickle)
    file = folder / "recipe.toml"
    if not file.is_file() and folder.parent.name == "checkpoints":
        # a checkpoint (adapters/NAME/checkpoints/checkpoint-N) of a finished run: trained with its recipe
        file = folder.parent.parent / "recipe.toml"
    recorded = tomllib.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
    model = {k: v for k, v in recorded.get("model", {}).items() if k in _SOURCE_KEYS}
    model.setdefault("base", peft_config.get("base_model_name_or_path") or _no_base(folder))
    _follow_conversion(folder, model)
    if base is not None and base != model["base"]:
        if canonical(base) != canonical(model["base"]):  # another checkpoint, not the same one renamed
            model.pop("revision", None)
        model["base"] = base
    loading = {k: v for k, v in loading.items() if v is not None}
    prompt = recorded.get("data", {}).get("system_prompt", DEFAULT_SYSTEM_PROMPT)
    # The audio tokenizer is checked where it is loaded: loading an adapter does not need it.
    setup = _setup(ModelConfig(**model, **loading), prompt, check_tokenizer=False)
    return replace(setup, adapter=folder, recorded=recorded)


def merged_setup(folder: str | Path, **loading: Any) -> TrainedSetup:
    """A merged checkpoint folder (`higgs-lora merge`): its config.json names the backend, its merge
    record the audio tokenizer and the system prompt."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise HiggsLoraError(f"--model {folder}: no config.json there; give a merged model folder.")
    file = folder / MERGE_RECORD
    record = json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
    config = ModelConfig(
        base=str(folder),
        audio_tokenizer=record.get("audio_tokenizer", AUDIO_TOKENIZER_ID),
        audio_tokenizer_revision=record.get("audio_tokenizer_revision"),
        **{k: v for k, v in loading.items() if v is not None},
    )
    return _setup(config, record.get("system_prompt", DEFAULT_SYSTEM_PROMPT), check_tokenizer=False)


def speech_setup(
    adapter: str | Path | None = None,
    model: str | Path | None = None,
    quantization: str = "auto",
    compute_dtype: str = "auto",
    trust_pickle: bool = False,
) -> TrainedSetup:
    """The setup speaking (and `eval`) runs with, from an adapter or a merged folder, runtime decided.

    An adapter by default (`auto`) runs as training heard it in `[samples]`/`[eval]`: on the base as the
    recipe loaded it (`[model] quantization`, `double_quant`, `compute_dtype`), the adapter unmerged;
    a plain-LoRA adapter ("none") falls back to "nf4" where `plan` predicts full precision does not fit
    the GPU's free memory. A merged folder by default: "none" where it fits (always on a CPU), else
    "nf4", and on a GPU in the dtype it was merged in (bf16 would round a trained adapter away)."""
    from higgs_lora.model.load import pick_runtime
    from higgs_lora.planning.inference import speech_quantization

    if quantization not in ("auto", "nf4", "none"):
        raise HiggsLoraError(f"--quantization {quantization!r}: choose auto, nf4 or none.")
    trained: dict[str, Any] = {}
    if adapter is not None:
        setup = adapter_setup(adapter, trust_pickle=trust_pickle)
        recorded = setup.recorded.get("model", {})
        trained = {
            key: recorded.get(key, ModelConfig.model_fields[key].default)
            for key in ("quantization", "double_quant", "compute_dtype")
        }
        setup = setup.loading(
            compute_dtype=trained["compute_dtype"] if compute_dtype == "auto" else compute_dtype,
            double_quant=trained["double_quant"],
        )
    else:
        setup = merged_setup(model, compute_dtype=_merged_compute_dtype(model, compute_dtype))  # type: ignore[arg-type]
    runtime = pick_runtime(setup.model)
    if quantization == "auto":
        quantization = trained.get("quantization", "none")
        if quantization == "none":
            quantization = speech_quantization(setup.model, runtime)
    if model is not None and quantization == "nf4":
        print(
            f"warning: speaking the merged model {model} on a 4-bit base rounds most of its adapter away "
            "(NF4 steps are far coarser than a trained adapter's weight changes). To hear all of it on "
            "this card, speak with --adapter: the 4-bit base it was trained on, the adapter unmerged."
        )
    return replace(setup.loading(quantization=quantization), runtime=runtime)


def _merged_compute_dtype(folder: str | Path, compute_dtype: str) -> str:
    """`auto` for a merged folder on a GPU: the dtype it was merged in (its merge record), not bf16."""
    import torch

    file = Path(folder) / MERGE_RECORD
    if compute_dtype != "auto" or not torch.cuda.is_available() or not file.is_file():
        return compute_dtype
    merged = json.loads(file.read_text(encoding="utf-8")).get("dtype")
    return {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}.get(merged, compute_dtype)


def _setup(
    config: ModelConfig, system_prompt: str, check_layouts: bool = True, check_tokenizer: bool = True
) -> TrainedSetup:
    """Decide the backend, fill in its revisions, and refuse (from config.json alone, before any heavy
    work) a checkpoint, or (`check_tokenizer`, for commands that encode audio) an audio tokenizer, in a
    layout that backend cannot read. Each config.json is read once: the one `auto` read to decide is
    the one checked."""
    backend, read = decide(config)
    decided = pinned_for(config.model_copy(update={"backend": backend}))
    base_config = read
    if check_layouts:
        layout = get(backend).layout
        if decided.base != TINY:
            base_config = check_model_layout(decided.base, decided.revision, layout=layout, config=read)
        if check_tokenizer and decided.audio_tokenizer != TINY:
            check_audio_tokenizer_layout(decided.audio_tokenizer, decided.audio_tokenizer_revision, layout)
    return TrainedSetup(decided, system_prompt, base_config=base_config)


def _follow_conversion(folder: Path, recorded: dict[str, Any]) -> None:
    """A converted adapter (`higgs-lora convert`) keeps the recipe it was trained with: its weights'
    layout decides the backend, and the official repos' revisions follow that layout (boson: the pin,
    native: `main`)."""
    if not (folder / ADAPTER_WEIGHTS).is_file():
        return
    from higgs_lora.conversion.adapters import adapter_layout

    layout = adapter_layout(folder)
    before = recorded.get("backend", "auto")
    recorded["backend"] = layout_backend(layout)
    if missing(recorded["backend"]) is not None:
        other = "native" if layout == "boson" else "boson"
        names = {"boson": "boson", "native": "transformers-native"}
        raise ModelError(
            f"adapter {folder} is in the {names[layout]} layout, and this environment runs the "
            f"{names[other]} backend. Convert it: higgs-lora convert {folder} --to {other}; or use it where "
            f"its backend is installed: {INSTALL[recorded['backend']]}"
        )
    if before == recorded["backend"] or (before == "auto" and layout == "boson"):
        return
    for name_key, revision_key in (("base", "revision"), ("audio_tokenizer", "audio_tokenizer_revision")):
        if (
            pinned_revision(recorded.get(name_key) or "") is not None
        ):  # recorded for the other layout: re-resolved
            recorded.pop(revision_key, None)


def _no_base(folder: Path) -> str:
    raise HiggsLoraError(f"{folder}/adapter_config.json: base_model_name_or_path is empty; pass --base.")

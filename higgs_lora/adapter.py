"""Trained adapters as artefacts: read their facts, list them, check they fit a base, load them back."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from higgs_lora.errors import HiggsLoraError, ModelError
from higgs_lora.recipe import ModelConfig

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PICKLED_WEIGHTS = ("adapter_model.bin", "adapter_model.pt", "adapter_model.pth")
_LORA_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<part>[AB])\.weight$")


@dataclass(frozen=True)
class AdapterInfo:
    """What `higgs-lora adapters` shows about one adapter folder."""

    name: str
    path: Path
    base: str
    rank: int
    alpha: float
    targets: str
    steps: int | None
    final_loss: float | None
    eval_loss: float | None
    size_bytes: int
    eval_wer: float | None = None
    """Headline figures of the last `higgs-lora eval` (ADAPTER/eval/eval.json), when there is one."""
    eval_similarity: float | None = None
    eval_never_stopped: str | None = None


def adapter_config(adapter_dir: str | Path, trust_pickle: bool = False) -> dict[str, Any]:
    """The adapter's PEFT config; refuses a folder whose weights are only a pickle unless trusted."""
    folder = Path(adapter_dir)
    file = folder / ADAPTER_CONFIG
    if not file.is_file():
        raise HiggsLoraError(f"{folder}: no {ADAPTER_CONFIG}; is this an adapter folder (adapters/<name>/)?")
    if not (folder / ADAPTER_WEIGHTS).is_file():
        pickled = [name for name in PICKLED_WEIGHTS if (folder / name).is_file()]
        if not pickled:
            raise HiggsLoraError(f"{folder}: no {ADAPTER_WEIGHTS}.")
        if not trust_pickle:
            raise HiggsLoraError(
                f"{folder}: the weights are {pickled[0]}, a pickle, which can run code when loaded. "
                "Load it only if you trust its source, with --trust-pickle (trust_pickle=True)."
            )
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise HiggsLoraError(f"{file}: not valid JSON ({err.msg}, line {err.lineno}).") from None


def adapter_base(adapter_dir: str | Path) -> str:
    base = adapter_config(adapter_dir, trust_pickle=True).get("base_model_name_or_path")
    if not base:
        raise HiggsLoraError(
            f"{adapter_dir}/{ADAPTER_CONFIG}: base_model_name_or_path is empty; pass --base."
        )
    return str(base)


def recipe_value(adapter_dir: str | Path, table: str, key: str, default: Any) -> Any:
    """A value from the recipe saved beside the adapter, or `default` when absent."""
    return recipe_table(adapter_dir, table).get(key, default)


def recipe_table(adapter_dir: str | Path, table: str) -> dict[str, Any]:
    """One table of the recipe saved beside the adapter ({} when there is none)."""
    file = Path(adapter_dir) / "recipe.toml"
    if not file.is_file():
        return {}
    return dict(tomllib.loads(file.read_text(encoding="utf-8")).get(table, {}))


# What identifies the weights an adapter was trained on; loading settings are the caller's.
_SOURCE_KEYS = (
    "base",
    "backend",
    "revision",
    "audio_tokenizer",
    "audio_tokenizer_revision",
    "semantic_teacher",
)


def trained_model_config(adapter_dir: str | Path, base: str | None = None, **loading: Any) -> ModelConfig:
    """The `[model]` an adapter was trained with (base, revisions, audio tokenizer), from its recipe.toml,
    so that merging and speaking load exactly those weights. `base` replaces the base (and drops its
    recorded revision); `loading` sets quantization / compute_dtype."""
    recorded = {k: v for k, v in recipe_table(adapter_dir, "model").items() if k in _SOURCE_KEYS}
    recorded.setdefault("base", adapter_base(adapter_dir))
    _follow_conversion(Path(adapter_dir), recorded)
    if base is not None and base != recorded["base"]:
        recorded["base"] = base
        recorded.pop("revision", None)
    return ModelConfig(**recorded, **loading)


def _follow_conversion(folder: Path, recorded: dict[str, Any]) -> None:
    """A converted adapter (`higgs-lora convert`) keeps the recipe it was trained with: its weights'
    layout decides the backend, and the official base's revision follows that layout."""
    if not (folder / ADAPTER_WEIGHTS).is_file():
        return
    from higgs_lora.backends import INSTALL, layout_backend, missing
    from higgs_lora.backends.layouts import adapter_layout
    from higgs_lora.recipe import PINNED_REVISIONS

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
        pinned = PINNED_REVISIONS.get(recorded.get(name_key, ""))
        if pinned is not None:  # the official repos: boson layout at the pin, native on `main`
            recorded[revision_key] = pinned if layout == "boson" else None


def read_adapter(adapter_dir: str | Path) -> AdapterInfo:
    folder = Path(adapter_dir)
    config = adapter_config(folder)
    metrics_file = folder / "metrics.json"
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
    groups = recipe_value(folder, "lora", "targets", None)
    regex = recipe_value(folder, "lora", "target_regex", None)
    return AdapterInfo(
        name=folder.name,
        path=folder,
        base=str(config.get("base_model_name_or_path") or "?"),
        rank=int(config.get("r", 0)),
        alpha=float(config.get("lora_alpha", 0)),
        targets=regex or (", ".join(groups) if groups else str(config.get("target_modules"))),
        steps=metrics.get("steps"),
        final_loss=metrics.get("final_loss"),
        eval_loss=metrics.get("eval_loss"),
        size_bytes=(folder / ADAPTER_WEIGHTS).stat().st_size,
        **_eval_headline(folder),
    )


def _eval_headline(folder: Path) -> dict[str, Any]:
    """The adapter's own figures from ADAPTER/eval/eval.json (empty when never evaluated)."""
    file = folder / "eval" / "eval.json"
    if not file.is_file():
        return {}
    try:
        figures = json.loads(file.read_text(encoding="utf-8"))["systems"][0]
    except (json.JSONDecodeError, KeyError, IndexError):
        return {}  # an unreadable eval only loses its column; the adapter itself is fine
    return {
        "eval_wer": figures.get("wer"),
        "eval_similarity": figures.get("similarity"),
        "eval_never_stopped": f"{figures.get('never_stopped')}/{figures.get('samples')} never stopped",
    }


def list_adapters(root: str | Path = "adapters") -> list[AdapterInfo]:
    """Every adapter folder directly under `root`, by name."""
    root = Path(root)
    if not root.is_dir():
        return []
    return [read_adapter(p) for p in sorted(root.iterdir()) if (p / ADAPTER_CONFIG).is_file()]


def _weight_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    if (folder / ADAPTER_WEIGHTS).is_file():
        with safe_open(str(folder / ADAPTER_WEIGHTS), "pt") as weights:
            return {key: tuple(weights.get_slice(key).get_shape()) for key in weights.keys()}  # noqa: SIM118
    import torch  # only reached for a pickle the user chose to trust

    pickled = next(folder / name for name in PICKLED_WEIGHTS if (folder / name).is_file())
    return {key: tuple(value.shape) for key, value in torch.load(pickled, map_location="cpu").items()}


def check_fits(adapter_dir: str | Path, base: ModelConfig, trust_pickle: bool = False) -> None:
    """Refuse, naming what differs, an adapter whose modules, shapes or rank the base does not have.

    Works from the base's config on the meta device: no weights are loaded.
    """
    from torch import nn

    from higgs_lora.backends import backend_for
    from higgs_lora.model.hub import check_model_layout
    from higgs_lora.model.load import resolve_base

    folder = Path(adapter_dir)
    config = adapter_config(folder, trust_pickle)
    backend = backend_for(base)
    if (folder / ADAPTER_WEIGHTS).is_file():
        from higgs_lora.backends.layouts import adapter_layout

        found = adapter_layout(folder)
        if found != backend.layout:
            raise ModelError(
                f"adapter {folder} is in the {found} layout; the {backend.name} backend loads the "
                f"{backend.layout} layout. Convert it: higgs-lora convert {folder} --to {backend.layout}"
            )
    base_config = check_model_layout(resolve_base(base), base.revision, what="base", layout=backend.layout)
    model = backend.meta_model(base_config)
    modules = dict(model.named_modules())
    problems: list[str] = []
    shapes = _weight_shapes(folder)
    for key, shape in sorted(shapes.items()):
        match = _LORA_KEY.match(key)
        if match is None:
            continue
        name, part = match["module"], match["part"]
        module = modules.get(name)
        if not isinstance(module, nn.Linear):
            problems.append(f"targets {name}, which base {base.base!r} does not have as a Linear layer")
            continue
        expected = (shape[0], module.in_features) if part == "A" else (module.out_features, shape[1])
        if shape != expected:
            problems.append(f"{name}.lora_{part} has shape {list(shape)}, base needs {list(expected)}")
        rank = shape[0] if part == "A" else shape[1]
        configured = config.get("rank_pattern", {}).get(name, config.get("r"))
        if configured is not None and rank != configured:
            problems.append(f"{name} has rank {rank}, but {ADAPTER_CONFIG} says r={configured}")
    if not any(_LORA_KEY.match(key) for key in shapes):
        problems.append("the adapter weights hold no LoRA tensors")
    if problems:
        unique = list(dict.fromkeys(problems))
        shown = "\n  ".join(unique[:6])
        more = f"\n  ... and {len(unique) - 6} more" if len(unique) > 6 else ""
        raise ModelError(f"adapter {folder} does not fit base {base.base!r}:\n  {shown}{more}")


def load_adapter(
    adapter_dir: str | Path,
    *,
    base: str | None = None,
    quantization: str = "none",
    dtype: Any = None,
    is_trainable: bool = False,
    trust_pickle: bool = False,
) -> Any:  # -> PeftModel
    """The base named in the adapter's config (or `base`), with the labels shim under PEFT's wrapper.

    `quantization` defaults to "none": inference and merging want full-precision base weights; pass
    "nf4" to reproduce the 4-bit training setup exactly. `dtype` (a torch dtype) defaults to bf16 on
    CUDA, fp32 on CPU. Pickled weights (adapter_model.bin) load only with `trust_pickle`.
    """
    from peft import PeftModel

    from higgs_lora.model.load import load_base_model

    adapter_config(adapter_dir, trust_pickle)
    compute = str(dtype).removeprefix("torch.") if dtype is not None else "auto"
    config = trained_model_config(adapter_dir, base, quantization=quantization, compute_dtype=compute)
    check_fits(adapter_dir, config, trust_pickle)
    model = load_base_model(config)
    return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=is_trainable)

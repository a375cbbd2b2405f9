"""Trained adapters as artefacts: read their facts, list them, check they fit a base, load them back."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from higgs_lora.core.errors import HiggsLoraError
from higgs_lora.higgs.layouts import ADAPTER_CONFIG, ADAPTER_WEIGHTS

PICKLED_WEIGHTS = ("adapter_model.bin", "adapter_model.pt", "adapter_model.pth")


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

"""`convert`: a PEFT LoRA adapter rewritten between the boson and transformers-native layouts, and the
layout an adapter folder is in. Tensor bytes are copied unchanged; only names change."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from higgs_lora.conversion.files import read_header, rename_safetensors, write_folder
from higgs_lora.core.errors import HiggsLoraError, OutputExistsError
from higgs_lora.higgs.layouts import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    AUTO_MAPPING,
    LAYOUT_FILE,
    Layout,
    check_layout,
    convert_key,
    convert_target_name,
    convert_targets,
    detect_layout,
)


def adapter_layout(adapter_dir: str | Path) -> Layout:
    """The layout of an adapter folder, from the keys of its weights."""
    weights = Path(adapter_dir) / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise HiggsLoraError(
            f"{adapter_dir}: no {ADAPTER_WEIGHTS}; is this an adapter folder (adapters/<name>/)?"
        )
    header, _ = read_header(weights)
    return detect_layout([k for k in header if k != "__metadata__"], str(weights))


def convert_adapter(
    adapter_dir: str | Path, to: Layout = "native", out: str | Path | None = None, force: bool = False
) -> Path:
    """Write a copy of a PEFT LoRA adapter in the `to` layout; returns the new folder.

    `out` defaults to `<adapter>-<to>` beside the adapter and is never replaced without `force`. Tensor bytes
    are copied unchanged; keys and `target_modules` are renamed; the other top-level files (recipe.toml,
    metrics.json, README.md, loss.png) are copied, sub-folders (checkpoints, samples, merged) are not.
    `higgs_lora_layout.json` records the layout and where the adapter came from."""
    check_layout(to)
    source_dir = Path(adapter_dir)
    weights = source_dir / ADAPTER_WEIGHTS
    config_file = source_dir / ADAPTER_CONFIG
    if not config_file.is_file():
        raise HiggsLoraError(
            f"{source_dir}: no {ADAPTER_CONFIG}; is this an adapter folder (adapters/<name>/)?"
        )
    source = adapter_layout(source_dir)
    if source == "higgs3":
        raise HiggsLoraError(
            f"{weights}: a Higgs TTS 3 adapter; Higgs TTS 3 is another network than Higgs Audio v2, so there is "
            "no layout to convert it to. Use it as it is (higgs-lora speak/merge on the higgs3 backend)."
        )
    if source == to:
        raise HiggsLoraError(f"{weights}: the adapter is already in the {to} layout; nothing to convert.")
    out = Path(out) if out is not None else source_dir.with_name(f"{source_dir.name}-{to}")
    if out.resolve() == source_dir.resolve():
        raise HiggsLoraError(f"--out {out} is the adapter itself; choose another folder.")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise OutputExistsError(f"{out} already exists. Pass --force to replace it, or choose another --out.")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise HiggsLoraError(f"{config_file}: not valid JSON ({err.msg}, line {err.lineno}).") from None

    header, _ = read_header(weights)
    layers = [int(m.group(1)) for k in header if (m := re.search(r"(?:^|\.)layers\.(\d+)\.", k))]
    num_layers = max(layers, default=1) + 1
    new_config = dict(config)
    for field in ("target_modules", "modules_to_save", "exclude_modules"):
        if config.get(field):
            new_config[field] = convert_targets(config[field], to, num_layers)
    for field in ("rank_pattern", "alpha_pattern"):  # keys are module names or suffixes, like list targets
        if config.get(field):
            new_config[field] = {convert_target_name(k, to): v for k, v in config[field].items()}
    if config.get("auto_mapping"):  # PEFT records the base class it was saved from
        new_config["auto_mapping"] = dict(AUTO_MAPPING[to])
    before = config.get("base_model_name_or_path")
    new_config["revision"] = _revision_for(before, to, config.get("revision"))
    record = {
        "layout": to,
        "converted_from": {
            "layout": source,
            "adapter": str(source_dir.resolve()),
            "base_model_name_or_path": before,
        },
        "note": "Converted by higgs-lora convert; tensors are byte-identical, only names changed.",
    }

    def write(staging: Path) -> None:
        rename_safetensors(weights, staging / ADAPTER_WEIGHTS, lambda key: convert_key(key, to))
        (staging / ADAPTER_CONFIG).write_text(json.dumps(new_config, indent=2) + "\n", encoding="utf-8")
        (staging / LAYOUT_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        for file in sorted(source_dir.iterdir()):
            if file.is_file() and file.name not in (ADAPTER_WEIGHTS, ADAPTER_CONFIG, LAYOUT_FILE):
                shutil.copy2(file, staging / file.name)

    write_folder(out, write, force)
    return out


def _revision_for(base: str | None, to: Layout, revision: str | None) -> str | None:
    """The official repo (under any of its ids) is both layouts: `main` is native, the pinned revision boson.
    Any other base (a local folder, tiny-random) is kept: point a native loader at a native copy of it."""
    from higgs_lora.core.hub import BASE_ID, canonical, pinned_revision

    if base is None or canonical(base) != BASE_ID:
        return revision
    return None if to == "native" else pinned_revision(BASE_ID)

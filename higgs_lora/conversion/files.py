"""Safetensors files renamed without loading a tensor (the header is rewritten, the bytes copied), and
folders written through a staging folder swapped in whole: a failure leaves the old one as it was."""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from higgs_lora.core.errors import HiggsLoraError, OutputExistsError
from higgs_lora.core.fileio import swap_in_folder
from higgs_lora.higgs.configs import boson_config_from_native, native_config_from_boson
from higgs_lora.higgs.layouts import _IGNORED_SUFFIXES, Layout, convert_key, detect_layout


def convert_checkpoint_folder(folder: str | Path, to: Layout = "native") -> None:
    """Rewrite, in place, a saved full checkpoint (config.json + safetensors shards, index included) to `to`.

    Meant for a staging folder (merge writes one, converts it, then swaps it in): tensor bytes are kept,
    only shard headers, the index's weight map and config.json change."""
    folder = Path(folder)
    config_file = folder / "config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    shards = sorted(folder.glob("*.safetensors"))
    if not shards:
        raise HiggsLoraError(f"{folder}: no .safetensors files to convert.")
    keys = [k for shard in shards for k in read_header(shard)[0] if k != "__metadata__"]
    keys = [k for k in keys if not k.endswith(_IGNORED_SUFFIXES)]
    if detect_layout(keys, str(folder)) == to:
        raise HiggsLoraError(f"{folder}: the checkpoint is already in the {to} layout; nothing to convert.")
    for shard in shards:
        staged = shard.with_name(f".{shard.name}.tmp")
        rename_safetensors(shard, staged, lambda key: convert_key(key, to), drop=_IGNORED_SUFFIXES)
        staged.replace(shard)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        data = json.loads(index.read_text(encoding="utf-8"))
        data["weight_map"] = {
            convert_key(k, to): v for k, v in data["weight_map"].items() if not k.endswith(_IGNORED_SUFFIXES)
        }
        index.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    new_config = native_config_from_boson(config) if to == "native" else boson_config_from_native(config)
    config_file.write_text(json.dumps(new_config, indent=2) + "\n", encoding="utf-8")


def read_header(path: Path) -> tuple[dict[str, Any], int]:
    """The safetensors JSON header and the byte offset where tensor data starts."""
    with path.open("rb") as handle:
        raw = handle.read(8)
        if len(raw) != 8:
            raise HiggsLoraError(f"{path}: not a safetensors file (shorter than 8 bytes).")
        (length,) = struct.unpack("<Q", raw)
        try:
            header = json.loads(handle.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError, MemoryError, OverflowError):
            raise HiggsLoraError(f"{path}: not a safetensors file (unreadable header).") from None
    return header, 8 + length


def rename_safetensors(
    source: Path, target: Path, rename: Callable[[str], str], drop: tuple[str, ...] = ()
) -> None:
    """Copy a safetensors file with renamed keys: a new header, the data bytes copied unchanged.

    Offsets in the header are relative to the data section, so they stay valid; dropped tensors leave
    unreferenced bytes, which safetensors refuses, so dropping re-packs the data (still byte-for-byte)."""
    header, data_start = read_header(source)
    metadata = header.pop("__metadata__", None)
    kept = {k: v for k, v in header.items() if not k.endswith(drop)} if drop else header
    new_header: dict[str, Any] = {"__metadata__": metadata} if metadata is not None else {}
    chunks: list[tuple[int, int]] = []
    position = 0
    for key, info in sorted(kept.items(), key=lambda item: item[1]["data_offsets"][0]):
        begin, end = info["data_offsets"]
        chunks.append((begin, end))
        new_header[rename(key)] = {**info, "data_offsets": [position, position + end - begin]}
        position += end - begin
    if len(set(new_header)) != len(kept) + (metadata is not None):
        raise HiggsLoraError(f"{source}: renaming would give two tensors the same name.")
    encoded = json.dumps(new_header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # safetensors aligns the data section to 8 bytes
    with source.open("rb") as reader, target.open("wb") as writer:
        writer.write(struct.pack("<Q", len(encoded)))
        writer.write(encoded)
        for begin, end in chunks:
            reader.seek(data_start + begin)
            remaining = end - begin
            while remaining:
                block = reader.read(min(remaining, 1 << 24))
                if not block:
                    raise HiggsLoraError(f"{source}: truncated (tensor data ends early).")
                writer.write(block)
                remaining -= len(block)


def write_folder(out: Path, write: Callable[[Path], None], force: bool) -> None:
    """Fill a staging folder beside `out`, then swap it in: a failure leaves `out` as it was."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    staging.chmod(0o755)
    try:
        write(staging)
        if out.exists() and not force and (not out.is_dir() or any(out.iterdir())):
            raise OutputExistsError(f"{out} appeared while converting; nothing replaced.")
        swap_in_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

"""`[data] format = "hf"`: a Hugging Face `datasets` data set as a source of `Clip`s.

`path` is a `save_to_disk` folder, a parquet file or folder of parquet files, or a hub id (streamed:
rows are read one by one, nothing else is downloaded up front). Each row's audio is written once to
`<cache>/hf-audio/<sha256>.<ext>` (atomically, named by content) and then goes through exactly the
checks and codes cache of the other formats. Audio is read undecoded (`Audio(decode=False)`) and
decoded by soundfile here, so no extra audio backend (torchcodec, ffmpeg) is needed.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from higgs_lora.core.errors import DataError
from higgs_lora.core.fileio import atomic_path
from higgs_lora.core.schema import DataConfig
from higgs_lora.data.sources import Clip, Skip


def read_hf(
    data: DataConfig, base_dir: Path, audio_folder: Path, progress: bool = True
) -> tuple[list[Clip], list[Skip]]:
    """Clips of `data.split`, reading `audio_column`, `text_column` and optionally `speaker_column`."""
    dataset = _open(data.path, base_dir, data.split)
    columns = list(dataset.column_names or (dataset.features or {}).keys())
    wanted = [c for c in (data.audio_column, data.text_column, data.speaker_column) if c]
    missing = [c for c in wanted if c not in columns]
    if missing:
        keys = {
            data.audio_column: "audio_column",
            data.text_column: "text_column",
            data.speaker_column: "speaker_column",
        }
        named = ", ".join(f'{keys[c]} = "{c}"' for c in missing)
        raise DataError(
            f"{data.path} [{data.split}]: no column for [data] {named}. Columns: {', '.join(columns)}."
        )
    dataset = _undecoded(dataset, data.audio_column)
    clips: list[Clip] = []
    skips: list[Skip] = []
    for index, row in enumerate(tqdm(dataset, desc="read hf", unit="row", disable=not progress)):
        where = f"{data.path} [{data.split}] row {index}"
        try:
            audio = _audio_file(row[data.audio_column], audio_folder, base_dir, data.path)
        except _BadRow as bad:
            skips.append(Skip(where, bad.reason, str(bad)))
            continue
        text = row[data.text_column]
        speaker = row[data.speaker_column] if data.speaker_column else None
        clips.append(
            Clip(
                id=f"{data.split}-{index:07d}",
                audio=audio,
                text=str(text).strip() if text is not None else "",
                where=where,
                speaker=str(speaker) if speaker is not None else None,
            )
        )
    return clips, skips


def _open(source: str, base_dir: Path, split: str) -> Any:
    import datasets

    local = (base_dir / source).resolve()
    if local.is_dir() and ((local / "dataset_dict.json").is_file() or (local / "state.json").is_file()):
        loaded = datasets.load_from_disk(str(local))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise DataError(f"{local}: no split {split!r} ([data] split). Splits: {', '.join(loaded)}.")
            return loaded[split]
        return loaded
    parquet = (
        sorted(local.glob("**/*.parquet"))
        if local.is_dir()
        else [local]
        if local.suffix == ".parquet"
        else []
    )
    if parquet:
        return datasets.load_dataset("parquet", data_files={split: [str(p) for p in parquet]}, split=split)
    if local.exists():
        raise DataError(
            f"{local}: not a Hugging Face data set. Expected a save_to_disk folder (dataset_info.json / "
            'state.json), parquet files, or a hub id such as "user/name" ([data] path).'
        )
    try:
        return datasets.load_dataset(source, split=split, streaming=True)
    except (FileNotFoundError, ValueError, ConnectionError, OSError) as err:
        raise DataError(
            f"[data] path = {source!r}: cannot open it as a local folder or a hub data set "
            f"({str(err).splitlines()[0]}). Check the id and split, and the network (or HF_HUB_OFFLINE)."
        ) from None


def _undecoded(dataset: Any, column: str) -> Any:
    import datasets

    feature = (dataset.features or {}).get(column)
    if isinstance(feature, datasets.Audio):
        return dataset.cast_column(column, datasets.Audio(decode=False))
    return dataset


class _BadRow(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _audio_file(value: Any, folder: Path, base_dir: Path, source: str) -> Path:
    """A file holding this row's audio: its own bytes, its array as a WAV, or the file it names."""
    if not isinstance(value, dict):
        raise _BadRow(
            "malformed_row", f"audio is {type(value).__name__}, expected an Audio feature or a dict"
        )
    if value.get("bytes"):
        suffix = Path(str(value.get("path") or "")).suffix.lower() or ".wav"
        return _store(bytes(value["bytes"]), suffix, folder)
    if value.get("array") is not None and value.get("sampling_rate"):
        import soundfile

        samples = np.asarray(value["array"], dtype=np.float32)
        buffer = io.BytesIO()
        try:
            # PCM-24, not float: libsndfile stamps float WAVs with the time (PEAK chunk), and the file
            # name must depend on the audio alone for the codes cache to find it again.
            soundfile.write(buffer, samples, int(value["sampling_rate"]), format="WAV", subtype="PCM_24")
        except (soundfile.LibsndfileError, ValueError, TypeError) as err:
            raise _BadRow("unreadable_audio", f"cannot store the audio array ({err})") from None
        return _store(buffer.getvalue(), ".wav", folder)
    if value.get("path"):
        path = Path(value["path"])
        candidates = [path] if path.is_absolute() else [base_dir / source / path, base_dir / path]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        raise _BadRow("missing_file", f"audio file {value['path']} not found")
    raise _BadRow("missing_audio", "row has no audio (no bytes, array or path)")


def _store(content: bytes, suffix: str, folder: Path) -> Path:
    target = folder / f"{hashlib.sha256(content).hexdigest()[:40]}{suffix}"
    if not target.is_file():
        with atomic_path(target) as temporary:
            temporary.write_bytes(content)
    return target

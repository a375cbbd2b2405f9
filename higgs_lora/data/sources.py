"""Dataset formats → `Clip`s: LJSpeech folder, JSONL manifest, folder of x.wav + x.txt pairs.

Parsing never stops at a bad row: each becomes a `Skip` naming the file, line and reason, and the
caller decides what to do with the list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from higgs_lora.core.errors import DataError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
BUILT_MANIFEST = "train.jsonl"
"""The manifest `higgs-lora dataset build` writes; its folder can stand for it as [data] path."""


@dataclass(frozen=True)
class Clip:
    """One training example as the dataset describes it (nothing decoded yet)."""

    id: str
    audio: Path
    text: str
    where: str
    """Where it was described, for messages: "metadata.csv line 12"."""
    speaker: str | None = None
    ref_audio: Path | None = None
    ref_text: str | None = None


@dataclass(frozen=True)
class Skip:
    """A clip left out, and why (`reason` is a short code used to count skips in the summary)."""

    where: str
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.detail}"


def detect_format(path: Path) -> str:
    if path.is_file() and path.suffix == ".jsonl":
        return "jsonl"
    if (path / "metadata.csv").is_file():
        return "ljspeech"
    if path.is_dir():
        return "folder"
    raise DataError(
        f"{path}: no dataset here. Expected a folder with metadata.csv and wavs/ (LJSpeech), a .jsonl "
        "manifest, or a folder of x.wav + x.txt pairs ([data] path, relative to the recipe file)."
    )


def read_clips(path: Path, data_format: str = "auto") -> tuple[list[Clip], list[Skip]]:
    """All clips a dataset describes, plus the rows that could not become clips (duplicates included)."""
    if not path.exists():
        raise DataError(f"{path}: dataset not found ([data] path is resolved against the recipe's folder).")
    if (
        data_format in ("auto", "jsonl")
        and (path / BUILT_MANIFEST).is_file()
        and not (path / "metadata.csv").is_file()
    ):
        path = path / BUILT_MANIFEST  # a folder made by `higgs-lora dataset build`
    data_format = detect_format(path) if data_format == "auto" else data_format
    readers = {"ljspeech": read_ljspeech, "jsonl": read_jsonl, "folder": read_folder}
    clips, skips = readers[data_format](path)
    unique: dict[str, Clip] = {}
    for clip in clips:
        if clip.id in unique:
            skips.append(
                Skip(clip.where, "duplicate_id", f"id {clip.id!r} already used at {unique[clip.id].where}")
            )
        else:
            unique[clip.id] = clip
    return list(unique.values()), skips


def read_ljspeech(root: Path) -> tuple[list[Clip], list[Skip]]:
    """`metadata.csv` rows `id|text[|normalized]` (normalized text preferred) with audio in `wavs/`."""
    metadata = root / "metadata.csv"
    if not metadata.is_file():
        if (root / BUILT_MANIFEST).is_file():
            raise DataError(
                f'{root}: [data] format = "ljspeech" but this folder holds {BUILT_MANIFEST} (a data set '
                'made by `higgs-lora dataset build`), not metadata.csv. Set format = "jsonl" or "auto".'
            )
        raise DataError(f"{root}: LJSpeech format needs metadata.csv (rows id|text|normalized_text).")
    clips: list[Clip] = []
    skips: list[Skip] = []
    for number, line in _lines(metadata):
        where = f"{metadata} line {number}"
        if line is None:
            skips.append(Skip(where, "bad_encoding", _NOT_UTF8))
            continue
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < 2:
            skips.append(Skip(where, "malformed_row", "expected 'id|text' (fields separated by '|')"))
            continue
        clip_id = fields[0].strip()
        text = (fields[2] if len(fields) > 2 and fields[2].strip() else fields[1]).strip()
        audio = _inside(root / "wavs", Path(f"{clip_id}.wav"))
        if not clip_id or audio is None:
            skips.append(Skip(where, "outside_dataset", f"id {clip_id!r} points outside {root}"))
            continue
        clips.append(Clip(id=clip_id, audio=audio, text=text, where=where))
    return clips, skips


def read_jsonl(manifest: Path) -> tuple[list[Clip], list[Skip]]:
    """One JSON object a line: `audio`, `text`, optional `speaker`, `ref_audio`, `ref_text`.

    Paths are relative to the manifest's folder and must stay inside it.
    """
    root = manifest.parent
    clips: list[Clip] = []
    skips: list[Skip] = []
    for number, line in _lines(manifest):
        where = f"{manifest} line {number}"
        if line is None:
            skips.append(Skip(where, "bad_encoding", _NOT_UTF8))
            continue
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            skips.append(Skip(where, "malformed_row", f"not valid JSON ({err.msg} at column {err.colno})"))
            continue
        if not isinstance(row, dict) or not isinstance(row.get("audio"), str) or "text" not in row:
            skips.append(Skip(where, "malformed_row", 'expected an object with "audio" and "text"'))
            continue
        audio = _inside(root, Path(row["audio"]))
        ref_audio = _inside(root, Path(row["ref_audio"])) if isinstance(row.get("ref_audio"), str) else None
        if audio is None or (row.get("ref_audio") and ref_audio is None):
            skips.append(Skip(where, "outside_dataset", f"audio path points outside {root}"))
            continue
        clips.append(
            Clip(
                id=Path(row["audio"]).stem if "id" not in row else str(row["id"]),
                audio=audio,
                text=str(row["text"] or "").strip(),
                where=where,
                speaker=str(row["speaker"]) if row.get("speaker") is not None else None,
                ref_audio=ref_audio,
                ref_text=str(row["ref_text"]).strip() if row.get("ref_text") is not None else None,
            )
        )
    return clips, skips


def read_folder(root: Path) -> tuple[list[Clip], list[Skip]]:
    """Every audio file with a same-named .txt beside it (searched recursively, sorted)."""
    clips: list[Clip] = []
    skips: list[Skip] = []
    for audio in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
        if any(part.startswith(".") for part in audio.relative_to(root).parts):
            continue  # our own cache and other hidden folders
        transcript = audio.with_suffix(".txt")
        if not transcript.is_file():
            skips.append(Skip(str(audio), "missing_transcript", f"no transcript {transcript.name} beside it"))
            continue
        try:
            text = transcript.read_text(encoding="utf-8-sig").strip()
        except UnicodeDecodeError as err:
            skips.append(Skip(str(transcript), "bad_encoding", f"transcript is not UTF-8 ({err.reason})"))
            continue
        clips.append(
            Clip(id=str(audio.relative_to(root).with_suffix("")), audio=audio, text=text, where=str(audio))
        )
    return clips, skips


def _lines(path: Path) -> list[tuple[int, str | None]]:
    """Numbered lines of a text file (UTF-8, BOM and CRLF tolerated); an undecodable line is None."""
    raw = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    numbered: list[tuple[int, str | None]] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        try:
            numbered.append((number, line.decode("utf-8")))
        except UnicodeDecodeError:
            numbered.append((number, None))
    return numbered


_NOT_UTF8 = "line is not UTF-8 text (save the file as UTF-8)"


def _inside(root: Path, relative: Path) -> Path | None:
    """`root / relative` if it stays inside `root`, else None."""
    candidate = (root / relative).resolve()
    return candidate if candidate.is_relative_to(root.resolve()) else None

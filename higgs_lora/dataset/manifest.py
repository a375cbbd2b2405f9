"""What a built data set holds on disk, and the review edits layered on top of it.

data/NAME/
  wavs/<id>.wav          the clips (24 kHz mono PCM-16 by default)
  train.jsonl            {"audio", "text", "speaker", "source", "start", "end"}   (--format jsonl)
  metadata.csv           id|text|text                                             (--format ljspeech)
  clips.json             every clip the build kept, with its measurements (the page reads it)
  edits.json             transcript fixes and drops made in the review page
  report.json            minutes in/kept, clips, what was dropped and why
  review.html            the clip list with players and transcripts
  .work/                 resumable per-input state (safe to delete once the build is done)

The manifest is always rewritten from clips.json + edits.json, so a rebuild keeps the user's edits.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from higgs_lora.core.errors import DataError
from higgs_lora.core.fileio import write_text_atomic
from higgs_lora.data.sources import BUILT_MANIFEST

MANIFEST = {"jsonl": BUILT_MANIFEST, "ljspeech": "metadata.csv"}


@dataclass(frozen=True)
class ClipRecord:
    id: str
    audio: str
    """Path relative to the data set folder: wavs/<id>.wav."""
    text: str
    speaker: str | None
    source: str
    start: float
    end: float
    quality: dict[str, float] = field(default_factory=dict)
    gain_db: float = 0.0
    fingerprint: str = ""

    @property
    def seconds(self) -> float:
        return round(self.end - self.start, 4)


@dataclass(frozen=True)
class Edit:
    text: str | None = None
    drop: bool = False


def read_clip_records(root: Path) -> list[ClipRecord]:
    path = root / "clips.json"
    if not path.is_file():
        raise DataError(f"{root}: no clips.json here; is this a folder made by `higgs-lora dataset build`?")
    return [ClipRecord(**row) for row in json.loads(path.read_text(encoding="utf-8"))]


def write_clip_records(root: Path, records: list[ClipRecord]) -> None:
    write_text_atomic(
        root / "clips.json", json.dumps([asdict(r) for r in records], indent=1, ensure_ascii=False)
    )


def read_edits(root: Path) -> dict[str, Edit]:
    path = root / "edits.json"
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {
            str(key): Edit(value.get("text"), bool(value.get("drop", False))) for key, value in raw.items()
        }
    except (json.JSONDecodeError, AttributeError) as err:
        raise DataError(f"{path}: not a valid edits file ({err}); fix or delete it.") from None


def write_edits(root: Path, edits: dict[str, Edit]) -> None:
    payload = {key: {"text": e.text, "drop": e.drop} for key, e in sorted(edits.items())}
    write_text_atomic(root / "edits.json", json.dumps(payload, indent=1, ensure_ascii=False))


def apply_edits(records: list[ClipRecord], edits: dict[str, Edit]) -> list[ClipRecord]:
    """The clips that stay after the user's drops, with the user's transcripts."""
    kept = []
    for record in records:
        edit = edits.get(record.id)
        if edit is not None and edit.drop:
            continue
        if edit is not None and edit.text is not None:
            record = ClipRecord(**{**asdict(record), "text": edit.text})
        kept.append(record)
    return kept


def write_manifest(root: Path, records: list[ClipRecord], data_format: str) -> Path:
    """The manifest the recipes read, from `records` (edits already applied)."""
    target = root / MANIFEST[data_format]
    other = root / MANIFEST["ljspeech" if data_format == "jsonl" else "jsonl"]
    if other.exists():
        raise DataError(
            f"{root}: already holds {other.name} from a build with the other --format; build into another "
            "--out folder (nothing was changed)."
        )
    if data_format == "jsonl":
        lines = [json.dumps(_jsonl_row(r), ensure_ascii=False) for r in records]
    else:
        lines = [f"{r.id}|{_one_line(r.text)}|{_one_line(r.text)}" for r in records]
    write_text_atomic(target, "".join(line + "\n" for line in lines))
    return target


def _jsonl_row(record: ClipRecord) -> dict[str, Any]:
    row: dict[str, Any] = {"id": record.id, "audio": record.audio, "text": record.text}
    if record.speaker:
        row["speaker"] = record.speaker
    row.update(source=record.source, start=record.start, end=record.end)
    return row


def _one_line(text: str) -> str:
    return " ".join(text.replace("|", " ").split())

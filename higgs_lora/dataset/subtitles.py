"""Transcripts that come with a recording: `talk.srt` / `talk.vtt` (timed cues) or `talk.txt`.

SRT and WebVTT differ only in their header, cue settings and the decimal mark, so one reader takes
both (the formats are small; a library would not give us line numbers for errors). Cue text loses its
markup (`<i>`, `{\\an8}`, speaker voice tags).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from higgs_lora.core.errors import DataError

TIMING = re.compile(
    r"^\s*(?P<start>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*(?P<end>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})"
)
MARKUP = re.compile(r"<[^>]*>|\{\\[^}]*\}")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class GivenTranscript:
    """What was found beside a recording: timed `cues` (srt/vtt) or one `text` (txt)."""

    path: Path
    cues: tuple[Cue, ...] = ()
    text: str | None = None


def find_transcript(audio: Path) -> GivenTranscript | None:
    """The transcript beside `audio` with the same name, preferring timed ones (srt, vtt, then txt)."""
    for suffix in (".srt", ".vtt"):
        path = audio.with_suffix(suffix)
        if path.is_file():
            return GivenTranscript(path, cues=tuple(read_cues(path)))
    path = audio.with_suffix(".txt")
    if path.is_file():
        return GivenTranscript(path, text=" ".join(_read(path).split()))
    return None


def read_cues(path: Path) -> list[Cue]:
    """Cues of an SRT or WebVTT file, in file order; a malformed timing line is an error naming it."""
    lines = _read(path).splitlines()
    cues: list[Cue] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if "-->" not in line:
            index += 1
            continue
        match = TIMING.match(line)
        if match is None:
            raise DataError(
                f"{path} line {index + 1}: cannot read the timing {line.strip()!r}; expected "
                "'HH:MM:SS,mmm --> HH:MM:SS,mmm' (SRT) or 'HH:MM:SS.mmm --> HH:MM:SS.mmm' (WebVTT)."
            )
        start, end = _seconds(match["start"]), _seconds(match["end"])
        if end < start:
            raise DataError(
                f"{path} line {index + 1}: cue ends ({end:.3f} s) before it starts ({start:.3f} s)."
            )
        text_lines = []
        index += 1
        while index < len(lines) and lines[index].strip():
            text_lines.append(lines[index].strip())
            index += 1
        text = " ".join(MARKUP.sub("", " ".join(text_lines)).split())
        if text:
            cues.append(Cue(start, end, text))
    return cues


def _seconds(stamp: str) -> float:
    parts = stamp.replace(",", ".").split(":")
    seconds = float(parts[-1])
    minutes = int(parts[-2])
    hours = int(parts[-3]) if len(parts) > 2 else 0
    return hours * 3600 + minutes * 60 + seconds


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start}); save it as UTF-8.") from None

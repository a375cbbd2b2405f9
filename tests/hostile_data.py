"""A dataset of hostile inputs: each case is a manifest row (or metadata row) and what must happen to it.

Shared by tests/unit/test_hostile_data.py and benchmarks/reliability.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

KEPT = "kept"


@dataclass(frozen=True)
class Case:
    name: str
    expected: str  # KEPT or the skip reason
    row: dict | str  # manifest row (dict) or a raw line (str)


def _tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def _write(root: Path, name: str, seconds: float = 1.0, rate: int = 22050, **kwargs) -> str:
    channels = kwargs.pop("channels", 1)
    soundfile.write(str(root / name), _tone(seconds, rate, channels), rate, **kwargs)
    return name


def build_manifest_cases(root: Path) -> list[Case]:
    """Write every hostile file into `root` and return the cases in manifest order."""
    root.mkdir(parents=True, exist_ok=True)

    def ok(name: str, audio: str, text: str = "Plain words.") -> Case:
        return Case(name, KEPT, {"id": name, "audio": audio, "text": text})

    def bad(name: str, reason: str, audio: str, text: str = "Words.") -> Case:
        return Case(name, reason, {"id": name, "audio": audio, "text": text})

    def raw(name: str, reason: str, content: str | Callable[[], bytes]) -> Case:
        return Case(name, reason, content if isinstance(content, str) else content().decode("latin-1"))

    (root / "zero.wav").write_bytes(b"")
    full = root / "_full.wav"
    soundfile.write(str(full), _tone(1.0, 22050), 22050)
    (root / "truncated.wav").write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    full.unlink()
    (root / "notaudio.wav").write_text("RIFF? no, just text pretending to be a wav file\n")
    (root / "folder.wav").mkdir(exist_ok=True)
    nan = _tone(1.0, 22050)
    nan[100] = np.nan
    soundfile.write(str(root / "nan.wav"), nan, 22050, subtype="FLOAT")
    inf = _tone(1.0, 22050)
    inf[200] = np.inf
    soundfile.write(str(root / "inf.wav"), inf, 22050, subtype="FLOAT")
    soundfile.write(str(root / "silence.wav"), np.zeros(22050), 22050)
    (root.parent / "outside.wav").write_bytes((root / "zero.wav").read_bytes())

    return [
        ok("pcm16_22k", _write(root, "pcm16.wav")),
        ok("pcm8", _write(root, "pcm8.wav", subtype="PCM_U8")),
        ok("pcm24", _write(root, "pcm24.wav", subtype="PCM_24")),
        ok("float32", _write(root, "float.wav", subtype="FLOAT")),
        ok("rate_8k", _write(root, "r8k.wav", rate=8000)),
        ok("rate_44k_stereo", _write(root, "r44k.wav", rate=44100, channels=2)),
        ok("rate_48k", _write(root, "r48k.wav", rate=48000)),
        ok("flac", _write(root, "clip.flac")),
        ok("ogg", _write(root, "clip.ogg")),
        ok("mp3", _write(root, "clip.mp3")),
        ok("cjk_text", _write(root, "cjk.wav"), "你好，世界。こんにちは。안녕하세요."),
        ok("rtl_emoji_text", _write(root, "rtl.wav"), "مرحبا بالعالم 🎙️"),
        bad("zero_byte", "unreadable_audio", "zero.wav"),
        bad("truncated", "truncated_audio", "truncated.wav"),
        bad("not_audio", "unreadable_audio", "notaudio.wav"),
        bad("directory", "not_a_file", "folder.wav"),
        bad("nan_samples", "non_finite_audio", "nan.wav"),
        bad("inf_samples", "non_finite_audio", "inf.wav"),
        bad("silence_only", "silent_audio", "silence.wav"),
        bad("too_short", "too_short", _write(root, "short.wav", seconds=0.1)),
        bad("too_long", "too_long", _write(root, "long.wav", seconds=5.0)),
        bad("missing_file", "missing_file", "nowhere.wav"),
        bad("empty_text", "empty_text", _write(root, "mute.wav"), "   "),
        bad("outside_dataset", "outside_dataset", "../outside.wav"),
        bad("absolute_path", "outside_dataset", "/etc/passwd"),
        raw("malformed_json", "malformed_row", '{"audio": "pcm16.wav", "text": '),
        raw("missing_keys", "malformed_row", '{"text": "no audio key"}'),
        Case("duplicate_id", "duplicate_id", {"id": "pcm16_22k", "audio": "pcm16.wav", "text": "Again."}),
        raw("undecodable_bytes", "bad_encoding", lambda: b'{"audio": "pcm16.wav", "text": "caf\xe9"}'),
    ]


def write_manifest(root: Path, cases: list[Case]) -> Path:
    manifest = root / "manifest.jsonl"
    lines = [
        case.row.encode("latin-1")
        if isinstance(case.row, str)
        else json.dumps(case.row, ensure_ascii=False).encode()
        for case in cases
    ]
    manifest.write_bytes(b"\n".join(lines) + b"\n")
    return manifest


def build_ljspeech_cases(root: Path) -> list[Case]:
    """LJSpeech metadata quirks: BOM, CRLF, undecodable bytes, malformed rows, escaping ids."""
    wavs = root / "wavs"
    wavs.mkdir(parents=True, exist_ok=True)
    _write(wavs, "a.wav")
    _write(wavs, "b.wav")
    rows = [
        (b"\xef\xbb\xbfa|First row after a BOM.\r\n", Case("bom_crlf", KEPT, "")),
        (b"b|Caf\xe9 in Latin-1.\r\n", Case("latin1_bytes", "bad_encoding", "")),
        (b"no separator here\r\n", Case("malformed_row", "malformed_row", "")),
        (b"../../../etc/passwd|Escape.\r\n", Case("escaping_id", "outside_dataset", "")),
        (b"b|Second row, fine.\r\n", Case("second_row", KEPT, "")),
    ]
    (root / "metadata.csv").write_bytes(b"".join(line for line, _ in rows))
    return [case for _, case in rows]


def outcome_by_line(kept_wheres: list[str], skips: list, source: Path) -> dict[int, str]:
    """Line number → "kept" or skip reason, for rows of `source`."""
    outcome = {}
    for where in kept_wheres:
        if where.startswith(f"{source} line "):
            outcome[int(where.rsplit(" ", 1)[1])] = KEPT
    for skip in skips:
        if skip.where.startswith(f"{source} line "):
            outcome[int(skip.where.rsplit(" ", 1)[1])] = skip.reason
    return outcome

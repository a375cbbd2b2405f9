"""Long recordings made from the shipped smoke clips with known pauses (for `dataset` tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.helpers import SMOKE_DATA


@dataclass(frozen=True)
class Recording:
    path: Path
    spoken: list[tuple[float, float, str]]
    """Where each smoke clip sits (start, end in seconds) and what it says."""
    seconds: float


def smoke_texts() -> dict[str, str]:
    lines = (SMOKE_DATA / "metadata.csv").read_text(encoding="utf-8").splitlines()
    return {line.split("|")[0]: line.split("|")[1] for line in lines}


def long_recording(
    path: Path,
    repeats: int = 1,
    seed: int = 0,
    pauses: tuple[float, float] = (0.4, 1.0),
    srt: bool = False,
    first: int | None = None,
) -> Recording:
    """The 12 smoke clips (or the `first` few) `repeats` times, separated by random pauses of `pauses`
    seconds (digital silence plus a faint noise floor), written at 22.05 kHz; optionally with a .srt."""
    import soundfile

    rng = np.random.default_rng(seed)
    texts = smoke_texts()
    parts: list[np.ndarray] = []
    spoken: list[tuple[float, float, str]] = []
    rate = 22050
    samples = 0
    for _ in range(repeats):
        for clip_id, text in list(texts.items())[:first]:
            clip, rate = soundfile.read(str(SMOKE_DATA / "wavs" / f"{clip_id}.wav"), dtype="float32")
            spoken.append((samples / rate, (samples + clip.size) / rate, text))
            pause = np.zeros(int(rng.uniform(*pauses) * rate), dtype=np.float32)
            parts += [clip * 0.5, pause]
            samples += clip.size + pause.size
    audio = np.concatenate(parts)
    audio += rng.normal(0, 1e-4, audio.size).astype(np.float32)  # a noise floor, as in a real room
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), audio, rate, subtype="PCM_16")
    if srt:
        path.with_suffix(".srt").write_text(
            "\n".join(f"{i}\n{_stamp(a)} --> {_stamp(b)}\n{t}\n" for i, (a, b, t) in enumerate(spoken, 1)),
            encoding="utf-8",
        )
    return Recording(path, spoken, samples / rate)


def _stamp(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:06.3f}".replace(".", ",")

"""Clip quality: loudness (ITU-R BS.1770 via pyloudnorm), clipping, SNR, speech share, duplicates.

`measure` computes the numbers, `problems` turns them into drop reasons with the number that failed
(the same thresholds for `dataset build` and `dataset check`), `normalize` sets the loudness.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Thresholds:
    target_lufs: float = -23.0
    """Loudness every kept clip is normalised to (EBU R128)."""
    peak_dbfs: float = -1.0
    """Normalisation never lets a sample peak above this; the gain is lowered instead."""
    min_lufs: float = -50.0
    """Quieter clips are dropped: normalising them would mostly amplify noise."""
    max_clipped_fraction: float = 0.001
    """Share of samples stuck at full scale (in runs of 3 or more) above which a clip is `clipped`."""
    min_snr_db: float = 15.0
    min_speech_ratio: float = 0.35
    """Share of 32 ms windows the VAD calls speech, below which a clip is music or noise."""


@dataclass(frozen=True)
class Quality:
    loudness_lufs: float
    peak_dbfs: float
    clipped_fraction: float
    snr_db: float
    speech_ratio: float

    def as_dict(self) -> dict[str, float]:
        return {key: round(value, 4) for key, value in asdict(self).items()}


def measure(audio: np.ndarray, rate: int, speech_ratio: float) -> Quality:
    """Numbers for one mono float clip; `speech_ratio` comes from the VAD (see `vad.Speech.ratio`)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return Quality(
        loudness_lufs=loudness(audio, rate),
        peak_dbfs=20 * math.log10(peak) if peak > 0 else -200.0,
        clipped_fraction=clipped_fraction(audio),
        snr_db=snr_db(audio, rate),
        speech_ratio=speech_ratio,
    )


def problems(quality: Quality, thresholds: Thresholds) -> list[tuple[str, str]]:
    """(reason, detail) for every threshold the clip fails, most serious first."""
    found = []
    if quality.loudness_lufs < thresholds.min_lufs:
        found.append(("too_quiet", f"loudness {quality.loudness_lufs:.1f} LUFS < {thresholds.min_lufs:g}"))
    if quality.clipped_fraction > thresholds.max_clipped_fraction:
        found.append(
            (
                "clipped",
                f"{100 * quality.clipped_fraction:.2f}% of samples clipped > "
                f"{100 * thresholds.max_clipped_fraction:g}%",
            )
        )
    if quality.speech_ratio < thresholds.min_speech_ratio:
        found.append(
            (
                "non_speech",
                f"speech in {100 * quality.speech_ratio:.0f}% of the clip < {100 * thresholds.min_speech_ratio:g}% "
                "(music or noise)",
            )
        )
    if quality.snr_db < thresholds.min_snr_db:
        found.append(("noisy", f"SNR {quality.snr_db:.1f} dB < {thresholds.min_snr_db:g}"))
    return found


def loudness(audio: np.ndarray, rate: int) -> float:
    """Integrated loudness in LUFS (BS.1770-4, gated); -200 for digital silence."""
    import pyloudnorm

    meter = pyloudnorm.Meter(rate)  # 400 ms blocks: clips are at least that long
    if audio.size < int(0.4 * rate):
        audio = np.pad(audio, (0, int(0.4 * rate) - audio.size))
    value = float(meter.integrated_loudness(audio.astype(np.float64)))
    return value if math.isfinite(value) else -200.0


def normalize(audio: np.ndarray, rate: int, thresholds: Thresholds) -> tuple[np.ndarray, float]:
    """The clip at `target_lufs` (gain lowered if the peak would pass `peak_dbfs`); returns the gain
    applied in dB as well."""
    current = loudness(audio, rate)
    gain_db = thresholds.target_lufs - current
    peak = float(np.max(np.abs(audio)))
    if peak > 0:
        gain_db = min(gain_db, thresholds.peak_dbfs - 20 * math.log10(peak))
    gain = 10 ** (gain_db / 20)
    return (audio * gain).astype(np.float32), gain_db


def clipped_fraction(audio: np.ndarray, level: float = 0.999, run: int = 3) -> float:
    """Share of samples in runs of `run`+ consecutive samples at or above `level` (full scale):
    a real waveform touches full scale at single samples, a clipped one sits there."""
    if audio.size == 0:
        return 0.0
    hot = np.abs(audio) >= level
    if not hot.any():
        return 0.0
    edges = np.diff(np.concatenate(([0], hot.view(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = ends - starts
    return float(lengths[lengths >= run].sum() / audio.size)


def snr_db(audio: np.ndarray, rate: int, frame_seconds: float = 0.02) -> float:
    """Signal-to-noise estimate from frame energies: the loud frames (90th percentile) against the
    quiet ones (10th percentile), which in a clip padded with pauses are the noise floor. Capped at
    100 dB (digital silence between words)."""
    frame = max(1, int(rate * frame_seconds))
    count = audio.size // frame
    if count < 5:
        return 100.0
    energy = np.mean(audio[: count * frame].reshape(count, frame).astype(np.float64) ** 2, axis=1)
    noise = float(np.percentile(energy, 10))
    signal = float(np.percentile(energy, 90))
    if signal <= 0:
        return 0.0
    if noise <= signal * 1e-10:
        return 100.0
    return min(100.0, 10 * math.log10(signal / noise))


def fingerprint(audio: np.ndarray, rate: int) -> str:
    """A coarse, gain-independent audio fingerprint: the sign pattern of the energy envelope's slope
    at 50 ms resolution. Two copies of the same recording (re-encoded, re-normalised, resampled)
    share it; different takes of the same sentence do not."""
    frame = max(1, int(rate * 0.05))
    count = audio.size // frame
    if count < 4:
        return hashlib.sha1(audio.tobytes()).hexdigest()[:20]
    energy = np.log(
        np.mean(audio[: count * frame].reshape(count, frame).astype(np.float64) ** 2, axis=1) + 1e-8
    )
    bits = np.diff(energy) > 0
    return hashlib.sha1(np.packbits(bits).tobytes() + count.to_bytes(4, "little")).hexdigest()[:20]


def normalized_text(text: str) -> str:
    return " ".join("".join(ch.lower() if ch.isalnum() else " " for ch in text).split())

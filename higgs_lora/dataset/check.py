"""`dataset check`: the build's checks on an existing data set (any format the recipes read),
changing nothing: durations, transcripts, loudness, clipping, SNR, speech share, duplicates, and
train/eval leakage for the split a recipe with this `eval_fraction` and `seed` makes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from higgs_lora.core.audio import AudioProblem, load_audio
from higgs_lora.core.errors import DataError
from higgs_lora.core.schema import DataConfig, TrainConfig
from higgs_lora.data.leakage import Leakage, find_leakage
from higgs_lora.data.sources import Skip, read_clips
from higgs_lora.dataset.clean import Thresholds, fingerprint, measure, problems
from higgs_lora.dataset.cut import Limits


@dataclass
class CheckReport:
    path: Path
    clips: int = 0
    seconds: float = 0.0
    problems: list[Skip] = field(default_factory=list)
    """One entry per failed check (a clip can fail several), with file/line and the number."""
    leakage: Leakage | None = None

    @property
    def clips_with_problems(self) -> int:
        return len({p.where for p in self.problems})

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "clips": self.clips,
            "minutes": round(self.seconds / 60, 3),
            "clips_with_problems": self.clips_with_problems,
            "problems_by_reason": dict(sorted(Counter(p.reason for p in self.problems).items())),
            "problems": [{"where": p.where, "reason": p.reason, "detail": p.detail} for p in self.problems],
            "leakage": self.leakage.as_dict() if self.leakage is not None else None,
        }

    def summary(self) -> str:
        reasons = Counter(p.reason for p in self.problems)
        found = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items())) or "none"
        lines = [f"  {p}" for p in self.problems[:50]]
        if len(self.problems) > 50:
            lines.append(f"  ... and {len(self.problems) - 50} more (--json lists all)")
        head = (
            f"{self.path}: {self.clips} clips, {self.seconds / 60:.1f} min; "
            f"{self.clips_with_problems} clips with problems ({found}). Nothing was changed."
        )
        leak = self.leakage.summary() if self.leakage is not None else None
        return "\n".join([head, *lines, *([leak] if leak else [])])


def check_dataset(
    path: str | Path,
    limits: Limits | None = None,
    thresholds: Thresholds | None = None,
    data_format: str = "auto",
    progress: bool = True,
    eval_fraction: float | None = None,
    seed: int | None = None,
) -> CheckReport:
    """Measure every clip of the data set at `path` (a folder or a manifest) against the thresholds,
    and the leakage of the train/eval split a recipe with this `eval_fraction` and `[train] seed`
    makes (default: the recipe defaults)."""
    from higgs_lora.dataset.vad import VAD_RATE, detect_speech

    limits = limits or Limits()
    thresholds = thresholds or Thresholds()
    path = Path(path)
    clips, skips = read_clips(path, data_format)
    report = CheckReport(path, problems=list(skips))
    seen: dict[str, str] = {}
    audio_keys: list[tuple[str, str, str]] = []  # (audio key, text, where) of each readable clip
    for clip in tqdm(clips, desc="check", unit="clip", disable=not progress):
        if not clip.text:
            report.problems.append(Skip(clip.where, "empty_text", "transcript is empty"))
        try:
            rate = _rate(clip.audio)
            audio = load_audio(clip.audio, rate)
        except AudioProblem as problem:
            report.problems.append(Skip(clip.where, problem.reason, problem.detail))
            continue
        seconds = audio.size / rate
        report.clips += 1
        report.seconds += seconds
        if not limits.min_seconds <= seconds <= limits.max_seconds:
            reason = "too_short" if seconds < limits.min_seconds else "too_long"
            report.problems.append(
                Skip(
                    clip.where,
                    reason,
                    f"{seconds:.2f} s outside {limits.min_seconds:g}-{limits.max_seconds:g} s",
                )
            )
        speech = detect_speech(_to_16k(audio, rate, VAD_RATE))
        quality = measure(audio, rate, speech.ratio(0.0, seconds))
        report.problems.extend(
            Skip(clip.where, reason, detail) for reason, detail in problems(quality, thresholds)
        )
        key = f"{fingerprint(audio, rate)}|{round(seconds, 1)}"
        audio_keys.append((key, clip.text, clip.where))
        if key in seen:
            report.problems.append(Skip(clip.where, "duplicate", f"same audio as {seen[key]}"))
        else:
            seen[key] = clip.where
    if not clips and not skips:
        raise DataError(f"{path}: no clips found.")
    fraction = DataConfig.model_fields["eval_fraction"].default if eval_fraction is None else eval_fraction
    if fraction > 0 and len(audio_keys) >= 2:
        seed = TrainConfig.model_fields["seed"].default if seed is None else seed
        report.leakage = find_leakage(
            audio_keys, lambda c: c[0], lambda c: c[1], lambda c: c[2], fraction, seed
        )
    return report


def _rate(path: Path) -> int:
    import soundfile

    try:
        return int(soundfile.info(str(path)).samplerate)
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise AudioProblem("unreadable_audio", f"cannot read audio ({err})") from None
    except FileNotFoundError:
        raise AudioProblem("missing_file", f"audio file {path} not found") from None


def _to_16k(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    import librosa

    return (
        audio
        if rate == target
        else librosa.resample(audio, orig_sr=rate, target_sr=target, res_type="soxr_hq")
    )

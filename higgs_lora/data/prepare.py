"""Encode every usable clip once with the audio tokenizer into the codes cache.

Bad clips never stop the run: each is reported with its file and reason, and the run ends with a
summary (kept / skipped by reason) and a machine-readable report beside the cache.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from higgs_lora.core.audio import AudioProblem, audio_seconds, load_audio
from higgs_lora.core.errors import DataError
from higgs_lora.core.fileio import write_text_atomic
from higgs_lora.core.schema import Recipe
from higgs_lora.data.cache import CodesCache
from higgs_lora.data.leakage import find_leakage
from higgs_lora.data.sources import Clip, Skip, read_clips

log = logging.getLogger(__name__)
SHOWN_SKIPS = 20  # the rest are in prepare-report.json


@dataclass(frozen=True)
class PreparedClip:
    clip: Clip
    codes: Path
    seconds: float
    ref_codes: Path | None = None


@dataclass
class PreparedData:
    clips: list[PreparedClip]
    skipped: list[Skip] = field(default_factory=list)
    encoded: int = 0
    cache_folder: Path | None = None
    leakage: Any = None
    """`Leakage` between the train and eval split training will make (None when there is no eval split)."""

    def summary(self) -> str:
        reasons = Counter(skip.reason for skip in self.skipped)
        skipped = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items())) or "none"
        minutes = sum(item.seconds for item in self.clips) / 60
        line = (
            f"prepared {len(self.clips)} clips ({minutes:.1f} min of audio, {self.encoded} newly encoded); "
            f"skipped: {skipped}"
        )
        leak = self.leakage.summary() if self.leakage is not None else None
        return f"{line}\n{leak}" if leak else line

    def report(self) -> dict[str, Any]:
        return {
            "kept": len(self.clips),
            "encoded": self.encoded,
            "skipped": len(self.skipped),
            "skipped_by_reason": dict(Counter(skip.reason for skip in self.skipped)),
            "skips": [{"where": s.where, "reason": s.reason, "detail": s.detail} for s in self.skipped],
            "leakage": self.leakage.as_dict() if self.leakage is not None else None,
        }


def prepare_clips(
    recipe: Recipe, tokenizer_fingerprint: str, load_tokenizer: Callable[[], Any], progress: bool = True
) -> PreparedData:
    """Encode what the cache lacks. `recipe.model` is a resolved setup's (the `prepare` verb resolves it);
    `load_tokenizer` is called only when some clip has no cache entry yet, so a warm cache loads nothing."""
    data = recipe.data
    root = recipe.data_path
    beside = _dataset_folder(root) if root.exists() else recipe.base_dir  # a hub id is not a folder
    cache_root = Path(recipe.base_dir / data.cache_dir) if data.cache_dir else beside / ".higgs-lora-cache"
    if data.format == "hf":
        from higgs_lora.data.hf import read_hf

        clips, skipped = read_hf(data, recipe.base_dir, cache_root / "hf-audio", progress)
    else:
        clips, skipped = read_clips(root, data.format)
    cache = CodesCache(cache_root, tokenizer_fingerprint)
    cache.remove_stale_temporaries()  # left by a run killed mid-write; never mistaken for entries
    tokenizer = None
    encoded = 0

    def codes_for(audio: Path, role: str) -> tuple[Path, float]:
        nonlocal tokenizer, encoded
        seconds = audio_seconds(audio)
        if not data.min_seconds <= seconds <= data.max_seconds:
            reason = "too_short" if seconds < data.min_seconds else "too_long"
            raise AudioProblem(
                reason,
                f"{role}{seconds:.2f} s is outside [data] min_seconds..max_seconds "
                f"({data.min_seconds}..{data.max_seconds})",
            )
        entry = cache.entry(audio)
        if not entry.is_file():
            if tokenizer is None:
                tokenizer = load_tokenizer()
            samples = load_audio(audio, tokenizer.sampling_rate)
            with torch.inference_mode():
                codes = tokenizer.encode(samples, tokenizer.sampling_rate)
            cache.put(entry, codes.cpu(), audio)
            encoded += 1
        return entry, seconds

    kept: list[PreparedClip] = []
    for clip in tqdm(clips, desc="prepare", unit="clip", disable=not progress):
        try:
            kept.append(_prepare_clip(clip, data.reference, codes_for))
        except AudioProblem as problem:
            skipped.append(Skip(clip.where, problem.reason, problem.detail))
    leakage = None
    if data.eval_fraction > 0 and len(kept) >= 2:
        # The codes entry is named by the audio file's digest: the same entry is the same audio.
        leakage = find_leakage(
            kept, lambda c: c.codes, lambda c: c.clip.text, lambda c: c.clip.where,
            data.eval_fraction, recipe.train.seed,
        )  # fmt: skip
    result = PreparedData(kept, skipped, encoded, cache.folder, leakage)
    cache.folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(cache.folder / "prepare-report.json", json.dumps(result.report(), indent=2))
    for skip in skipped[:SHOWN_SKIPS]:
        log.warning("skipped %s", skip)
    if len(skipped) > SHOWN_SKIPS:
        log.warning(
            "... and %d more skips: see %s", len(skipped) - SHOWN_SKIPS, cache.folder / "prepare-report.json"
        )
    if not kept:
        raise DataError(f"{root}: no usable clips ({result.summary()}). See the messages above.")
    return result


def _prepare_clip(clip: Clip, reference: str, codes_for: Any) -> PreparedClip:
    if not clip.text:
        raise AudioProblem("empty_text", "transcript is empty")
    codes, seconds = codes_for(clip.audio, "")
    ref_codes = None
    if reference == "manifest":
        if clip.ref_audio is None or not clip.ref_text:
            raise AudioProblem(
                "missing_reference",
                '[data] reference = "manifest" needs "ref_audio" and "ref_text" on every row',
            )
        ref_codes, _ = codes_for(clip.ref_audio, "reference audio ")
    return PreparedClip(clip, codes, seconds, ref_codes)


def _dataset_folder(path: Path) -> Path:
    return path.parent if path.is_file() else path

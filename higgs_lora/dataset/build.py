"""`dataset build`: long recordings → clips with transcripts → a data set the recipes read.

Per input file: read → VAD → transcript (srt/vtt/txt beside it, else Whisper with word timestamps
over ≤ 30 s windows) → cut in pauses → measure and clean each clip → write it. Then, over all inputs:
duplicates, the manifest, report.json and review.html.

Resumable: each step's result is written atomically under `.work/<input>/` (speech probabilities,
words, then `done.json` last) and each clip file atomically, so after a kill a rerun skips whatever
exists and, all steps being deterministic, ends with the same bytes as an uninterrupted run.
A file that cannot be read is reported and skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from higgs_lora.core.audio import AudioProblem, audio_seconds, load_audio
from higgs_lora.core.errors import DataError, OutputExistsError
from higgs_lora.core.fileio import atomic_path, write_text_atomic
from higgs_lora.data.cache import file_digest
from higgs_lora.data.sources import AUDIO_SUFFIXES
from higgs_lora.dataset.clean import Thresholds, fingerprint, measure, normalize, problems
from higgs_lora.dataset.cut import Limits, assign_words, plan_cuts
from higgs_lora.dataset.manifest import (
    ClipRecord,
    apply_edits,
    read_edits,
    write_clip_records,
    write_manifest,
)
from higgs_lora.dataset.report import BuildReport, Dropped, finish_report
from higgs_lora.dataset.subtitles import find_transcript
from higgs_lora.dataset.timing import timed_text
from higgs_lora.dataset.vad import VAD_RATE, Speech, detect_speech, segments_from_probabilities

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildOptions:
    """Everything that decides the output; a rerun into the same folder must use the same."""

    data_format: str = "jsonl"
    speaker: str | None = None
    language: str | None = None
    asr_model: str | None = None
    sample_rate: int = 24000
    limits: Limits = field(default_factory=Limits)
    thresholds: Thresholds = field(default_factory=Thresholds)

    def fingerprint(self, inputs: list[tuple[Path, str]]) -> dict[str, Any]:
        return {"options": asdict(self), "inputs": [[str(p), digest] for p, digest in inputs]}


def build_dataset(
    inputs: list[str | Path],
    out: str | Path,
    options: BuildOptions | None = None,
    device: str = "auto",
    asr_batch_size: int = 8,
    asr_max_new_tokens: int | None = None,
    progress: bool = True,
) -> BuildReport:
    """Build (or finish building) the data set in `out` from audio files and folders."""
    options = options or BuildOptions(speaker=Path(out).name)
    if options.data_format not in ("jsonl", "ljspeech"):
        raise DataError(f"--format {options.data_format!r}: use jsonl or ljspeech.")
    root = Path(out)
    files, unreadable = expand_inputs([Path(p) for p in inputs], exclude=root)
    if not files:
        missing = "".join(f" {item.source}: {item.detail}." for item in unreadable)
        raise DataError(
            f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in {', '.join(map(str, inputs))}.{missing} "
            "Nothing was written."
        )
    identified = [(path, file_digest(path)) for path in files]
    _claim_folder(root, options.fingerprint(identified))
    asr = _LazyTranscriber(options, device, asr_batch_size, asr_max_new_tokens)
    records: list[ClipRecord] = []
    dropped: list[Dropped] = list(unreadable)
    notes: list[str] = []
    seconds_in = 0.0
    resumed = 0
    names = _unique_names([path for path, _ in identified])
    for (path, digest), name in tqdm(
        list(zip(identified, names, strict=True)), desc="inputs", unit="file", disable=not progress
    ):
        work = root / ".work" / f"{name}-{digest[:12]}"
        done = work / "done.json"
        if done.is_file():
            resumed += 1
        else:
            try:
                result = _process_input(path, name, work, root, options, asr, progress)
            except (AudioProblem, DataError) as problem:
                # Not marked done: a fixed file is picked up by the next run.
                detail = (
                    f"{problem.reason}: {problem.detail}"
                    if isinstance(problem, AudioProblem)
                    else str(problem)
                )
                dropped.append(Dropped(str(path), 0.0, 0.0, "bad_input", detail))
                log.warning("skipped %s: %s", path, detail)
                continue
            write_text_atomic(done, json.dumps(result, indent=1, ensure_ascii=False))
        state = json.loads(done.read_text(encoding="utf-8"))
        seconds_in += state["seconds"]
        records.extend(ClipRecord(**row) for row in state["clips"])
        dropped.extend(Dropped(**row) for row in state["dropped"])
        notes.extend(state["notes"])
    kept, duplicates = _drop_duplicates(records)
    dropped.extend(duplicates)
    for record in {r.audio for r in records} - {r.audio for r in kept}:
        (root / record).unlink(missing_ok=True)  # our own clip, written before the comparison
    records = kept
    write_clip_records(root, records)
    write_manifest(root, apply_edits(records, read_edits(root)), options.data_format)
    report = finish_report(root, records, dropped, notes, seconds_in, len(files) + len(unreadable))
    report.resumed_inputs = resumed
    return report


def expand_inputs(inputs: list[Path], exclude: Path | None = None) -> tuple[list[Path], list[Dropped]]:
    """Audio files named or found (recursively, sorted) in named folders, leaving out hidden folders
    and `exclude` (the output: a rerun must not read its own clips); a missing path is reported."""
    files: list[Path] = []
    missing: list[Dropped] = []
    skip = exclude.resolve() if exclude is not None else None
    for item in inputs:
        if item.is_dir():
            found = [
                p
                for p in sorted(item.rglob("*"))
                if p.suffix.lower() in AUDIO_SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(item).parts)
                and not (skip is not None and p.resolve().is_relative_to(skip))
            ]
            files.extend(found)
        elif item.is_file():
            files.append(item)
        else:
            missing.append(Dropped(str(item), 0.0, 0.0, "bad_input", "no such file or folder"))
    unique = list(dict.fromkeys(p.resolve() for p in files))
    return unique, missing


def _claim_folder(root: Path, fingerprint: dict[str, Any]) -> None:
    """Refuse a folder that holds someone else's files or a build with other inputs/options."""
    marker = root / ".work" / "build.json"
    if marker.is_file():
        if json.loads(marker.read_text(encoding="utf-8")) != fingerprint:
            raise OutputExistsError(
                f"{root}: holds a data set built from other inputs or options. Rerun with the same "
                "ones to finish it, or build into another --out folder (nothing was changed)."
            )
        return
    if root.exists() and any(root.iterdir()):
        raise OutputExistsError(
            f"{root}: folder exists and is not empty; choose another --out (nothing was changed)."
        )
    write_text_atomic(marker, json.dumps(fingerprint, indent=1))


def _unique_names(files: list[Path]) -> list[str]:
    names: list[str] = []
    for path in files:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem).strip("._-") or "audio"
        name, n = base, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
    return names


class _LazyTranscriber:
    """Loads Whisper only when an input needs it (inputs with transcripts never do)."""

    def __init__(
        self, options: BuildOptions, device: str, batch_size: int, max_new_tokens: int | None
    ) -> None:
        self.args = (options.asr_model, device, options.language, batch_size, max_new_tokens)
        self._transcriber: Any = None

    def __call__(self) -> Any:
        if self._transcriber is None:
            from higgs_lora.asr import Transcriber

            self._transcriber = Transcriber(*self.args)
        return self._transcriber


def _process_input(
    path: Path,
    name: str,
    work: Path,
    root: Path,
    options: BuildOptions,
    asr: _LazyTranscriber,
    progress: bool,
) -> dict[str, Any]:
    import librosa

    seconds = audio_seconds(path)
    native_rate = _native_rate(path)
    audio = load_audio(path, native_rate)
    audio16 = librosa.resample(audio, orig_sr=native_rate, target_sr=VAD_RATE, res_type="soxr_hq")
    speech = _cached_speech(work, audio16, progress)
    given = find_transcript(path)
    words, note = timed_text(work, path, speech, audio16, given, options.limits, asr, progress)
    cuts, rejected = plan_cuts(
        speech.segments, seconds, options.limits, [(w[0], w[1]) for w in words], speech.pause_depth
    )
    texts = assign_words(cuts, words)
    dropped = [
        Dropped(str(path), r.start, r.end, r.reason, _rejected_detail(r, options.limits)) for r in rejected
    ]
    clips: list[dict[str, Any]] = []
    for number, (cut, text) in enumerate(zip(cuts, texts, strict=True), start=1):
        clip_id = f"{name}_{number:04d}"
        segment = audio[int(cut.start * native_rate) : int(cut.end * native_rate)]
        quality = measure(segment, native_rate, speech.ratio(cut.start, cut.end))
        found = problems(quality, options.thresholds)
        if not text:
            found.insert(0, ("no_text", "no words were heard in this clip"))
        if found:
            reason, detail = found[0]
            dropped.append(Dropped(str(path), cut.start, cut.end, reason, detail, text, quality.as_dict()))
            continue
        out = librosa.resample(
            segment, orig_sr=native_rate, target_sr=options.sample_rate, res_type="soxr_hq"
        )
        out, gain_db = normalize(out, options.sample_rate, options.thresholds)
        target = root / "wavs" / f"{clip_id}.wav"
        if not target.is_file():  # written atomically: if it exists, it is complete
            _write_wav(target, out, options.sample_rate)
        record = ClipRecord(
            clip_id, f"wavs/{clip_id}.wav", text, options.speaker, str(path), cut.start, cut.end,
            quality.as_dict(), round(gain_db, 2), fingerprint(out, options.sample_rate),
        )  # fmt: skip
        clips.append(asdict(record))
    notes = [f"{path}: {note}"] if note else []
    return {"seconds": seconds, "clips": clips, "dropped": [asdict(d) for d in dropped], "notes": notes}


def _native_rate(path: Path) -> int:
    import soundfile

    return int(soundfile.info(str(path)).samplerate)


def _cached_speech(work: Path, audio16: np.ndarray, progress: bool) -> Speech:
    cache = work / "speech.npy"
    if cache.is_file():
        probabilities = np.load(cache)
        return _speech_from(probabilities, audio16)
    speech = detect_speech(audio16, progress)
    with atomic_path(cache) as temporary, temporary.open("wb") as handle:
        np.save(handle, speech.probabilities)
    return speech


def _speech_from(probabilities: np.ndarray, audio16: np.ndarray) -> Speech:
    return Speech(
        segments_from_probabilities(probabilities, len(audio16)), probabilities, len(audio16) / VAD_RATE
    )


def _rejected_detail(rejected: Any, limits: Limits) -> str:
    length = rejected.end - rejected.start
    if rejected.reason == "too_long":
        return (
            f"{length:.1f} s of speech with no pause or gap between timed words > max "
            f"{limits.max_seconds:g} s (a cut would split a word). To keep it: raise --max-seconds, give "
            "word-level subtitles (shorter cues), or split the recording by hand in a pause"
        )
    return f"{length:.1f} s alone between long pauses < min {limits.min_seconds:g} s"


def _write_wav(target: Path, samples: np.ndarray, rate: int) -> None:
    import soundfile

    with atomic_path(target) as temporary:
        soundfile.write(str(temporary), samples, rate, subtype="PCM_16", format="WAV")


def _drop_duplicates(records: list[ClipRecord]) -> tuple[list[ClipRecord], list[Dropped]]:
    seen: dict[str, ClipRecord] = {}
    kept: list[ClipRecord] = []
    dropped: list[Dropped] = []
    for record in records:
        key = hashlib.sha1(f"{record.fingerprint}|{round(record.seconds, 1)}".encode()).hexdigest()
        if key in seen:
            first = seen[key]
            dropped.append(
                Dropped(
                    record.source,
                    record.start,
                    record.end,
                    "duplicate",
                    f"same audio as {first.id}",
                    record.text,
                )
            )
        else:
            seen[key] = record
            kept.append(record)
    return kept, dropped

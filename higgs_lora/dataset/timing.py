"""Timed text for a recording, what `dataset build` cuts by: its subtitle cues (a cue longer than one
clip timed word by word from ASR inside it), a .txt for a recording short enough to be one clip, or
Whisper's words. Transcriptions are cached in the recording's work folder, so a rerun skips them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from higgs_lora.core.fileio import write_text_atomic
from higgs_lora.dataset.align import time_cue
from higgs_lora.dataset.cut import Limits, plan_cuts
from higgs_lora.dataset.subtitles import GivenTranscript
from higgs_lora.dataset.vad import VAD_RATE, Speech

ASR_WINDOW = Limits(min_seconds=0.0, max_seconds=30.0, max_pause_seconds=2.0, pad_seconds=0.2)
"""How speech is grouped into windows for Whisper (its 30 s context), cut in pauses like clips."""


def timed_text(
    work: Path,
    path: Path,
    speech: Speech,
    audio16: np.ndarray,
    given: GivenTranscript | None,
    limits: Limits,
    asr: Callable[[], Any],
    progress: bool,
) -> tuple[list[tuple[float, float, str]], str | None]:
    """Timed text for the recording: subtitle cues, a .txt for a recording short enough to be one
    clip, or Whisper words (cached in words.json)."""
    if given is not None and given.cues:
        return _timed_cues(work, path, given, audio16, limits, asr, progress)
    note = None
    if given is not None and given.text:
        if speech.segments:
            start, end = speech.segments[0][0], speech.segments[-1][1]
            if end - start <= limits.max_seconds:
                return [(start, end, given.text)], None
        note = f"{given.path.name} has no timings and the recording is longer than one clip: transcribed with ASR"
    cache = work / "words.json"
    if cache.is_file():
        return [tuple(w) for w in json.loads(cache.read_text(encoding="utf-8"))], note  # type: ignore[misc]
    windows, long_runs = plan_cuts(speech.segments, speech.seconds, ASR_WINDOW)
    spans = sorted(
        [(w.start, w.end) for w in windows] + [(r.start, r.end) for r in long_runs if r.reason == "too_long"]
    )
    words = _transcribe(spans, audio16, asr, f"transcribe {path.name}", progress)
    write_text_atomic(cache, json.dumps([[a, b, t] for a, b, t in words], ensure_ascii=False))
    return words, note


def _timed_cues(
    work: Path,
    path: Path,
    given: GivenTranscript,
    audio16: np.ndarray,
    limits: Limits,
    asr: Callable[[], Any],
    progress: bool,
) -> tuple[list[tuple[float, float, str]], str | None]:
    """The subtitle cues as timed text; a cue longer than one clip is transcribed and its words timed
    by the words heard in it (`align.time_cue`), so the planner can split it in a pause between two
    of them. The heard words are cached in cue-words.json."""
    cues = [(c.start, c.end, c.text) for c in given.cues]
    long = [(a, b) for a, b, _ in cues if b - a > limits.max_seconds]
    if not long:
        return cues, None
    cache = work / "cue-words.json"
    if cache.is_file():
        heard = [tuple(w) for w in json.loads(cache.read_text(encoding="utf-8"))]
    else:
        heard = _transcribe(long, audio16, asr, f"time long cues of {path.name}", progress)
        write_text_atomic(cache, json.dumps([[a, b, t] for a, b, t in heard], ensure_ascii=False))
    timed: list[tuple[float, float, str]] = []
    for start, end, text in cues:
        if end - start > limits.max_seconds:
            inside = [w for w in heard if start <= (w[0] + w[1]) / 2 <= end]
            timed += time_cue(start, end, text, inside)  # type: ignore[arg-type]
        else:
            timed.append((start, end, text))
    return timed, None


def _transcribe(
    spans: list[tuple[float, float]], audio16: np.ndarray, asr: Callable[[], Any], label: str, progress: bool
) -> list[tuple[float, float, str]]:
    """Whisper words (absolute times, rounded to ms) heard in each span of the 16 kHz audio."""
    transcriber = asr()
    words: list[tuple[float, float, str]] = []
    batch = transcriber.batch_size
    bar = tqdm(total=len(spans), desc=label, unit="window", disable=not progress, leave=False)
    for first in range(0, len(spans), batch):
        group = spans[first : first + batch]
        pieces = [audio16[int(a * VAD_RATE) : int(b * VAD_RATE)] for a, b in group]
        for (offset, end), transcript in zip(group, transcriber.transcribe(pieces), strict=True):
            if transcript.words:
                words.extend((offset + w.start, offset + w.end, w.text) for w in transcript.words)
            elif transcript.text:  # a model without word timings: the window's text as one unit
                words.append((offset, end, transcript.text))
        bar.update(len(group))
    bar.close()
    return [(round(a, 3), round(b, 3), t) for a, b, t in words]

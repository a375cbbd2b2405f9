"""Share of speech `dataset build`'s cut planner keeps from long runs, before and after splitting
them between timed words, on real speech.

    python benchmarks/long_runs.py VOICE_PROMPTS_FOLDER [--max-seconds 15]

The folder holds the upstream voice prompts (boson-ai/higgs-audio examples/voice_prompts, x.wav +
x.txt). The English ones are joined, in name order, into one recording: two prompts at a time with
a 50 ms join (under the VAD's 100 ms minimum silence, so each pair is one run of speech, as a
speaker who does not pause between sentences), 1 s between pairs. The real silero VAD finds the
speech; the timed text is one subtitle cue per prompt over its own span, as an .srt written from the
transcripts would give. No real ASR runs here (Whisper cannot be downloaded offline), so "without
subtitles" is measured with no word timings at all, which is what a model without word timestamps
gives. Prints kept seconds / VAD speech seconds for each case.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import librosa
import numpy as np
import soundfile

from higgs_lora.dataset import cut
from higgs_lora.dataset.vad import VAD_RATE, detect_speech

ENGLISH = ("belinda", "bigbang_amy", "bigbang_sheldon", "broom_salesman", "chadwick", "en_man",
           "en_woman", "fiftyshades_anna", "mabel", "shrek_donkey", "shrek_fiona", "shrek_shrek", "vex")  # fmt: skip


def _trimmed(path: Path) -> np.ndarray:
    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    audio = librosa.resample(audio.mean(axis=1), orig_sr=rate, target_sr=VAD_RATE, res_type="soxr_hq")
    return librosa.effects.trim(audio, top_db=40)[0]


def recording(folder: Path) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The joined audio at 16 kHz and each prompt's (start, end) in it."""
    pieces: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []
    t = 0.0
    for number, name in enumerate(ENGLISH):
        audio = _trimmed(folder / f"{name}.wav")
        spans.append((t, t + len(audio) / VAD_RATE))
        gap = np.zeros(int((0.05 if number % 2 == 0 else 1.0) * VAD_RATE), dtype=np.float32)
        pieces += [audio, gap]
        t += (len(audio) + len(gap)) / VAD_RATE
    return np.concatenate(pieces), spans


def kept_share(speech: object, words: list[tuple[float, float]], limits: cut.Limits, split: bool) -> float:
    original = cut.split_long_runs
    if not split:  # the planner as it was: a too-long run is dropped whole
        cut.split_long_runs = lambda runs, *_args, **_kwargs: runs  # type: ignore[assignment]
    try:
        cuts, _ = cut.plan_cuts(speech.segments, speech.seconds, limits, words, speech.pause_depth)  # type: ignore[attr-defined]
    finally:
        cut.split_long_runs = original
    total = sum(b - a for a, b in speech.segments)  # type: ignore[attr-defined]
    inside = sum(
        max(0.0, min(b, c.speech[1]) - max(a, c.speech[0]))
        for c in cuts
        for a, b in speech.segments  # type: ignore[attr-defined]
    )
    return inside / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--max-seconds", type=float, default=15.0)
    args = parser.parse_args()
    audio, spans = recording(args.folder)
    speech = detect_speech(audio)
    limits = cut.Limits(max_seconds=args.max_seconds)
    runs = cut.join_runs(speech.segments, spans)
    print(
        f"{len(audio) / VAD_RATE:.1f} s recording, {sum(b - a for a, b in speech.segments):.1f} s speech, "
        f"{sum(b - a > args.max_seconds for a, b in runs)} runs (with cues) over {args.max_seconds:g} s"
    )
    for label, words in (
        ("without subtitles (no word timings)", []),
        ("with subtitles (a cue per prompt)", spans),
    ):
        before = kept_share(speech, words, limits, split=False)
        after = kept_share(speech, words, limits, split=True)
        print(f"{label}: kept {before:.1%} before, {after:.1%} after splitting long runs")


if __name__ == "__main__":
    main()

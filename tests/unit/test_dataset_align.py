"""A subtitle cue longer than one clip: its words timed by ASR heard inside it, then cut in a pause
between two of them; its text arrives whole and in order, never split by guess."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np

from higgs_lora.asr import Transcript, Word
from higgs_lora.dataset.align import time_cue
from higgs_lora.dataset.cut import Limits, assign_words, plan_cuts
from higgs_lora.dataset.subtitles import Cue, GivenTranscript
from higgs_lora.dataset.timing import timed_text
from higgs_lora.dataset.vad import Speech

# Two 10 s sentences spoken with a comma-length pause (0.2 s, under the VAD's minimum silence) between
# them: one run of speech, 20.2 s, in one cue.
SENTENCE_A = "the quick brown fox jumps over the lazy dog again and again, today"
SENTENCE_B = "while twelve thirty came and went without a single word from anyone."
CUE = Cue(1.0, 21.2, f"{SENTENCE_A} {SENTENCE_B}")


def heard_words(misheard: dict[int, str]) -> list[tuple[float, float, str]]:
    """ASR words evenly over each sentence, some misheard (index → what the ASR wrote)."""
    words: list[tuple[float, float, str]] = []
    index = 0
    for start, sentence in ((1.0, SENTENCE_A), (11.2, SENTENCE_B)):
        tokens = sentence.split()
        step = 10.0 / len(tokens)
        for number, token in enumerate(tokens):
            a = start + number * step
            words.append((a, a + step * 0.8, misheard.get(index, token)))
            index += 1
    return words


def test_a_cue_is_cut_only_between_two_matched_adjacent_words() -> None:
    heard = heard_words({1: "quack", 12: "twelve-thirty"})
    units = time_cue(CUE.start, CUE.end, CUE.text, heard)
    assert " ".join(text for _, _, text in units) == CUE.text  # the user's text, unchanged
    # "quick" was misheard: it stays with its neighbours ("the quick brown"), no cut beside it
    assert units[0][2] == "the quick brown"
    assert units[0][0] == CUE.start and units[-1][1] == CUE.end
    for (_, end, _), (start, _, _) in pairwise(units):
        assert end <= start  # each gap between units is a gap between heard words
    assert time_cue(0.0, 20.0, "nothing heard here", []) == [(0.0, 20.0, "nothing heard here")]


class FakeTranscriber:
    batch_size = 8

    def __init__(self, words: list[tuple[float, float, str]]) -> None:
        self.words = words
        self.calls: list[float] = []

    def transcribe(self, clips: list[np.ndarray]) -> list[Transcript]:
        self.calls += [len(c) / 16000 for c in clips]
        # the cue's span starts at 1.0 s: times relative to the clip given
        return [Transcript("", tuple(Word(t, a - 1.0, b - 1.0) for a, b, t in self.words)) for _ in clips]


def test_a_long_cue_is_kept_as_clips_under_the_limit(tmp_path: Path) -> None:
    seconds = 23.0
    segments = [(1.0, 21.2), (21.6, 22.6)]
    speech = Speech(segments, np.full(int(seconds / 0.032), 0.9, dtype=np.float32), seconds)
    given = GivenTranscript(tmp_path / "talk.srt", cues=(CUE, Cue(21.6, 22.6, "Bye now.")))
    limits = Limits(max_seconds=15.0)
    asr = FakeTranscriber(heard_words({5: "ovr"}))
    words, _ = timed_text(tmp_path, tmp_path / "talk.wav", speech, np.zeros(int(seconds * 16000)), given,
                          limits, lambda: asr, progress=False)  # fmt: skip
    assert asr.calls == [20.2]  # only the long cue was transcribed
    cuts, rejected = plan_cuts(segments, seconds, limits, [(a, b) for a, b, _ in words])
    assert not rejected and len(cuts) >= 2
    assert all(cut.seconds <= limits.max_seconds for cut in cuts)
    assert " ".join(assign_words(cuts, words)) == f"{CUE.text} Bye now."  # complete and in order
    # a rerun reads the heard words from the work folder instead of transcribing again
    again, _ = timed_text(tmp_path, tmp_path / "talk.wav", speech, np.zeros(1), given, limits,
                          lambda: FakeTranscriber([]), progress=False)  # fmt: skip
    assert again == words

"""Time the words of a subtitle cue that is longer than one clip, from ASR word timings inside it.

A cue's text is the user's (better than any ASR); its timing is one span. A cue longer than the clip
limit needs word timings to be split, so the cue's own audio is transcribed and the cue's words are
aligned to the heard words (difflib over normalised words). Each cue word that matches a heard word
takes its timing; words that match nothing stay attached to their matched neighbours, so a cut can
fall only between two matched words, never by guess. The result is the cue as a few timed units whose
texts, joined, are the cue's text unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from difflib import SequenceMatcher

Timed = tuple[float, float, str]

_NOT_WORD = re.compile(r"[^\w']+")


def _key(word: str) -> str:
    return _NOT_WORD.sub("", word.lower())


def time_cue(start: float, end: float, text: str, heard: Sequence[Timed]) -> list[Timed]:
    """The cue `text` over [start, end] as timed units, cut only between two adjacent cue words both
    matched to `heard` (ASR words, absolute times) with the first ending before the second starts.
    Without such a pair it stays one unit: the planner then drops it as too long, saying how to keep it."""
    words = text.split()
    heard = [w for w in heard if _key(w[2])]
    matcher = SequenceMatcher(None, [_key(w) for w in words], [_key(w[2]) for w in heard], autojunk=False)
    times: list[tuple[float, float] | None] = [None] * len(words)
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            a, b, _ = heard[block.b + offset]
            times[block.a + offset] = (max(start, a), min(end, b))
    cuts = [
        i
        for i in range(1, len(words))
        if (left := times[i - 1]) is not None and (right := times[i]) is not None and left[1] <= right[0]
    ]
    if not cuts:
        return [(start, end, text)]
    units: list[Timed] = []
    for first, after in zip([0, *cuts], [*cuts, len(words)], strict=True):
        unit_start = start if first == 0 else times[first][0]  # type: ignore[index]
        unit_end = end if after == len(words) else times[after - 1][1]  # type: ignore[index]
        units.append((unit_start, unit_end, " ".join(words[first:after])))
    return units

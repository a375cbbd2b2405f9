"""Speech segments (+ word or subtitle timings) → clips within duration limits. Pure functions.

Rules, in order:
1. A cut may only fall in a pause: a gap between speech segments that no word (or subtitle cue)
   spans. Segments joined by a word are one run.
2. A pause longer than `max_pause_seconds` always ends a clip (long silences inside a clip teach the
   model to pause at random).
3. Between such pauses, cuts are chosen together (dynamic programming, `_partition`): every clip
   within `max_seconds`, none under `min_seconds` where avoidable, as few cuts as possible, at the
   longest pauses (sentence ends rather than commas), lengths as even as that allows.
4. A clip still shorter than `min_seconds` (alone between long pauses) is dropped as `too_short`.
5. A single run longer than `max_seconds` with no pause inside is dropped as `too_long`: cutting it
   would cut inside a word.
Each clip is padded into its neighbouring pauses (never past a pause's middle), so clips never overlap
and each cut lies inside a pause.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

Runs = list[tuple[float, float]]


@dataclass(frozen=True)
class Limits:
    min_seconds: float = 1.0
    max_seconds: float = 15.0
    max_pause_seconds: float = 2.0
    """A pause longer than this always ends a clip."""
    pad_seconds: float = 0.2
    """Silence kept before and after the speech of a clip (at most half of each pause)."""

    def __post_init__(self) -> None:
        if not 0 <= self.min_seconds < self.max_seconds:
            raise ValueError(
                f"min_seconds ({self.min_seconds}) must be below max_seconds ({self.max_seconds})"
            )


@dataclass(frozen=True)
class Cut:
    """A planned clip: `start`/`end` of its audio (padding included), `speech` the spoken part."""

    start: float
    end: float
    speech: tuple[float, float]

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Rejected:
    start: float
    end: float
    reason: str
    """`too_short` or `too_long`."""


def join_runs(
    segments: Sequence[tuple[float, float]], words: Sequence[tuple[float, float]] = ()
) -> list[tuple[float, float]]:
    """Speech runs: sorted segments, merged where they overlap or where a word spans the gap."""
    runs: list[list[float]] = []
    for start, end in sorted(segments):
        if runs and start <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], end)
        else:
            runs.append([start, end])
    merged: list[list[float]] = []
    spans = sorted(words)
    for run in runs:
        if merged and _spanned(merged[-1][1], run[0], spans):
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    return [(a, b) for a, b in merged]


def _spanned(gap_start: float, gap_end: float, words: Sequence[tuple[float, float]]) -> bool:
    """True when a word starts before the gap's middle and ends after it (it crosses the pause)."""
    middle = (gap_start + gap_end) / 2
    return any(start < middle < end for start, end in words if start < gap_end and end > gap_start)


def plan_cuts(
    segments: Sequence[tuple[float, float]],
    seconds: float,
    limits: Limits,
    words: Sequence[tuple[float, float]] = (),
) -> tuple[list[Cut], list[Rejected]]:
    """Clips for a recording of `seconds` with these speech `segments`; see the module docstring."""
    runs = join_runs(segments, words)
    if not runs:
        return [], []
    groups: list[tuple[int, int]] = []  # inclusive run index ranges
    for first, last in _split_at(runs, 0, len(runs) - 1, lambda gap: gap > limits.max_pause_seconds):
        groups.extend(_partition(runs, first, last, limits))
    cuts: list[Cut] = []
    rejected: list[Rejected] = []
    for index, (first, last) in enumerate(groups):
        speech = (runs[first][0], runs[last][1])
        before = runs[groups[index - 1][1]][1] if index else 0.0
        after = runs[groups[index + 1][0]][0] if index + 1 < len(groups) else seconds
        start = max(speech[0] - limits.pad_seconds, (before + speech[0]) / 2 if index else 0.0)
        end = min(
            speech[1] + limits.pad_seconds, (speech[1] + after) / 2 if index + 1 < len(groups) else seconds
        )
        length = speech[1] - speech[0]
        if length > limits.max_seconds:
            rejected.append(Rejected(start, end, "too_long"))
        elif end - start < limits.min_seconds:
            rejected.append(Rejected(start, end, "too_short"))
        else:
            end = min(end, start + limits.max_seconds)  # padding never pushes a clip past the limit
            cuts.append(Cut(round(start, 4), round(end, 4), speech))
    return cuts, rejected


def _split_at(runs: Runs, first: int, last: int, splits: Callable[[float], bool]) -> list[tuple[int, int]]:
    """Ranges of runs between the gaps for which `splits(gap_seconds)` is true."""
    ranges = []
    begin = first
    for i in range(first, last):
        if splits(runs[i + 1][0] - runs[i][1]):
            ranges.append((begin, i))
            begin = i + 1
    ranges.append((begin, last))
    return ranges


def _partition(runs: Runs, first: int, last: int, limits: Limits) -> list[tuple[int, int]]:
    """The best split of runs [first, last] into groups (dynamic programming over the pauses).

    Hard: a group of several runs fits `max_seconds` (speech span plus padding). Costs: a group under
    `min_seconds` 1000; a cut at a pause of p seconds 1 / (p + 0.05), so few cuts, at long pauses;
    a tiny 1e-4 * length² per group, so equal cut counts prefer even lengths."""
    n = last - first + 1
    best = [0.0] + [float("inf")] * n
    choice = [0] * (n + 1)
    for end in range(1, n + 1):
        stop = runs[first + end - 1][1]
        for begin in range(end - 1, -1, -1):
            length = stop - runs[first + begin][0] + 2 * limits.pad_seconds
            if begin < end - 1 and length > limits.max_seconds:
                break  # longer groups only get longer
            cost = best[begin] + 1e-4 * length**2 + (1000.0 if length < limits.min_seconds else 0.0)
            if begin > 0:
                cost += 1.0 / (runs[first + begin][0] - runs[first + begin - 1][1] + 0.05)
            if cost < best[end] - 1e-12:
                best[end], choice[end] = cost, begin
    groups = []
    end = n
    while end > 0:
        groups.append((first + choice[end], first + end - 1))
        end = choice[end]
    return groups[::-1]


def assign_words(cuts: Sequence[Cut], words: Sequence[tuple[float, float, str]]) -> list[str]:
    """The text of each clip: the words whose middle lies inside it, in order."""
    texts: list[list[str]] = [[] for _ in cuts]
    for start, end, text in sorted(words):
        middle = (start + end) / 2
        for index, cut in enumerate(cuts):
            if cut.start <= middle < cut.end:
                texts[index].append(text)
                break
    return [" ".join(" ".join(parts).split()) for parts in texts]

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
5. A single run longer than `max_seconds` (speakers often talk 20 s with only 120–300 ms comma
   pauses, shorter than the VAD's minimum silence) is split between two timed words, at the deepest
   pause (`pause_depth`, else the widest gap), recursively until each piece fits; a piece with no
   gap between words left is dropped as `too_long`: cutting it would cut inside a word.
Each clip is padded into its neighbouring pauses (never past a pause's middle), so clips never overlap
and each cut lies inside a pause; padding, not speech, gives way to the `max_seconds` cap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

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
    pause_depth: Callable[[float, float], float] | None = None,
) -> tuple[list[Cut], list[Rejected]]:
    """Clips for a recording of `seconds` with these speech `segments`; see the module docstring.

    `pause_depth(start, end)` scores a gap between words (higher = more of a pause, e.g. one minus
    the lowest VAD speech probability in it); without it the widest gap wins."""
    runs = split_long_runs(join_runs(segments, words), words, limits, pause_depth)
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
            start, end = _fit_padding(start, end, speech, limits.max_seconds)
            cuts.append(Cut(round(start, 4), round(end, 4), speech))
    return cuts, rejected


def _fit_padding(
    start: float, end: float, speech: tuple[float, float], max_seconds: float
) -> tuple[float, float]:
    """Shrink the padding (never the speech) so the clip fits `max_seconds`, evenly where it can."""
    excess = (end - start) - max_seconds
    if excess <= 0:
        return start, end
    before, after = speech[0] - start, end - speech[1]
    take_after = min(after, max(excess / 2, excess - before))
    return start + min(before, excess - take_after), end - take_after


def split_long_runs(
    runs: Runs,
    words: Sequence[tuple[float, float]],
    limits: Limits,
    pause_depth: Callable[[float, float], float] | None = None,
) -> Runs:
    """Runs too long for one clip, split between timed words (see rule 5); other runs as they are."""
    spans = sorted(words)
    out: Runs = []
    for run in runs:
        out.extend(_split_run(run, spans, limits, pause_depth))
    return out


def _split_run(
    run: tuple[float, float],
    words: Sequence[tuple[float, float]],
    limits: Limits,
    pause_depth: Callable[[float, float], float] | None,
) -> Runs:
    start, end = run
    if end - start + 2 * limits.pad_seconds <= limits.max_seconds:
        return [run]
    inside = [w for w in words if w[1] > start and w[0] < end]  # a word may overhang the VAD's edge
    gaps = [(a[1], b[0]) for a, b in pairwise(inside) if a[1] <= b[0] and start < a[1] < end]
    if not gaps:
        return [run]
    # Prefer gaps that leave both pieces at least min_seconds long; else any gap.
    even = [g for g in gaps if g[0] - start >= limits.min_seconds and end - g[1] >= limits.min_seconds]

    def score(gap: tuple[float, float]) -> tuple[float, float]:
        depth = pause_depth(*gap) if pause_depth is not None else gap[1] - gap[0]
        return depth, -abs((gap[0] + gap[1]) / 2 - (start + end) / 2)  # ties: the most central

    gap = max(even or gaps, key=score)
    return _split_run((start, gap[0]), words, limits, pause_depth) + _split_run(
        (gap[1], end), words, limits, pause_depth
    )


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

"""Cutting speech segments into clips: pure functions on synthetic segment lists."""

from __future__ import annotations

import pytest

from higgs_lora.dataset.cut import Limits, assign_words, join_runs, plan_cuts

LIMITS = Limits(min_seconds=1.0, max_seconds=15.0, max_pause_seconds=2.0, pad_seconds=0.2)


def in_a_pause(t: float, segments: list[tuple[float, float]]) -> bool:
    return not any(start < t < end for start, end in segments)


def test_short_neighbours_merge_and_every_cut_lies_in_a_pause() -> None:
    segments = [(0.5, 3.0), (3.4, 6.0), (7.0, 7.4), (7.6, 9.0), (9.5, 12.0)]
    cuts, rejected = plan_cuts(segments, 13.0, LIMITS)
    assert not rejected
    assert [c.speech for c in cuts] == [(0.5, 12.0)]  # all fits in one 15 s clip
    cuts, rejected = plan_cuts(segments, 13.0, Limits(max_seconds=6.0))
    assert not rejected
    for cut in cuts:
        assert LIMITS.min_seconds <= cut.seconds <= 6.0
        assert in_a_pause(cut.start, segments) and in_a_pause(cut.end, segments)
    # every segment is inside exactly one clip
    for start, end in segments:
        assert sum(c.start <= start and end <= c.end for c in cuts) == 1


def test_long_runs_split_at_the_longest_pause() -> None:
    # 4 sentences of 4 s; the pause after the second is the longest
    segments = [(0.0, 4.0), (4.3, 8.3), (9.5, 13.5), (13.8, 17.8)]
    cuts, _ = plan_cuts(segments, 18.0, Limits(max_seconds=10.0, pad_seconds=0.1))
    assert [c.speech for c in cuts] == [(0.0, 8.3), (9.5, 17.8)]
    assert cuts[0].end <= (8.3 + 9.5) / 2 <= cuts[1].start  # padding stops at the pause's middle


def test_long_pause_always_ends_a_clip_and_lonely_short_speech_is_dropped() -> None:
    segments = [(0.0, 3.0), (6.0, 6.3), (9.5, 12.0)]
    cuts, rejected = plan_cuts(segments, 12.0, LIMITS)
    assert [c.speech for c in cuts] == [(0.0, 3.0), (9.5, 12.0)]
    assert [(r.reason, round(r.start, 1)) for r in rejected] == [("too_short", 5.8)]


def test_a_run_without_pause_longer_than_the_limit_is_dropped_not_cut_inside_a_word() -> None:
    cuts, rejected = plan_cuts([(0.0, 20.0), (21.0, 25.0)], 26.0, LIMITS)
    assert [c.speech for c in cuts] == [(21.0, 25.0)]
    assert [r.reason for r in rejected] == ["too_long"]


def _words_over(count: int, gaps: dict[int, float]) -> list[tuple[float, float]]:
    """`count` 0.4 s words from 0, 0.02 s apart except after the word numbers given in `gaps`."""
    words, t = [], 0.0
    for number in range(count):
        words.append((round(t, 3), round(t + 0.4, 3)))
        t += 0.4 + gaps.get(number, 0.02)
    return words


def test_a_long_run_is_split_between_words_at_its_widest_pause() -> None:
    words = _words_over(46, {19: 0.25, 28: 0.12})  # 19.6 s of speech
    cuts, rejected = plan_cuts([(0.0, words[-1][1])], 21.0, LIMITS, words)
    assert not rejected
    assert [c.speech for c in cuts] == [(0.0, words[19][1]), (words[20][0], words[-1][1])]  # 250 ms
    for cut in cuts:
        assert cut.seconds <= LIMITS.max_seconds + 1e-9
        assert not any(a < cut.start < b or a < cut.end < b for a, b in words)  # never inside a word


def test_the_split_follows_the_pause_depth_when_given() -> None:
    words = _words_over(46, {19: 0.25, 28: 0.12})
    cuts, _ = plan_cuts([(0.0, 20.0)], 21.0, LIMITS, words, lambda a, b: 1.0 if a == words[28][1] else 0.0)
    assert cuts[0].speech[1] == words[28][1]


def test_a_very_long_run_is_split_recursively_until_every_piece_fits() -> None:
    words = _words_over(120, {})
    cuts, rejected = plan_cuts([(0.0, words[-1][1])], 51.0, LIMITS, words)
    assert not rejected and len(cuts) >= 4
    assert all(c.seconds <= LIMITS.max_seconds + 1e-9 for c in cuts)
    assert sum(c.speech[1] - c.speech[0] for c in cuts) > 0.97 * words[-1][1]


def test_a_long_run_with_one_word_spanning_it_is_still_dropped() -> None:
    cuts, rejected = plan_cuts([(0.0, 20.0)], 21.0, LIMITS, [(0.0, 20.0)])
    assert not cuts and [r.reason for r in rejected] == ["too_long"]


def test_the_cap_shortens_padding_never_speech() -> None:
    cuts, _ = plan_cuts([(1.0, 15.9)], 20.0, Limits(max_seconds=16.0, pad_seconds=0.5))
    assert cuts[0].start <= 1.0 and cuts[0].end >= 15.9
    cuts, _ = plan_cuts([(0.5, 15.9)], 20.0, Limits(max_seconds=15.5, pad_seconds=0.5))
    assert cuts[0].end >= 15.9  # the old cap cut the speech's end: 0.0 + 15.5 < 15.9


def test_words_that_span_a_gap_join_the_segments() -> None:
    segments = [(0.0, 2.0), (2.2, 4.0), (5.0, 7.0)]
    assert join_runs(segments) == [(0.0, 2.0), (2.2, 4.0), (5.0, 7.0)]
    assert join_runs(segments, words=[(1.8, 2.5)]) == [(0.0, 4.0), (5.0, 7.0)]
    cuts, _ = plan_cuts(segments, 7.5, Limits(max_seconds=4.5, pad_seconds=0.1), words=[(1.8, 2.5)])
    assert [c.speech for c in cuts] == [(0.0, 4.0), (5.0, 7.0)]  # not at 2.0-2.2, inside the word


def test_clips_never_exceed_max_with_padding() -> None:
    cuts, _ = plan_cuts([(1.0, 15.9)], 20.0, Limits(max_seconds=16.0, pad_seconds=0.5))
    assert cuts[0].seconds <= 16.0 + 1e-9


def test_assign_words_by_their_middle() -> None:
    cuts, _ = plan_cuts([(0.0, 2.0), (5.0, 7.0)], 7.0, LIMITS)
    words = [(0.1, 0.5, "hello"), (0.6, 1.9, "there"), (5.1, 5.5, "good"), (5.6, 6.9, " bye ")]
    assert assign_words(cuts, words) == ["hello there", "good bye"]


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="below max_seconds"):
        Limits(min_seconds=5, max_seconds=2)


def test_a_slightly_longer_pause_near_an_end_does_not_chip_off_tiny_clips() -> None:
    # 12 sentences of 1.5 s with 0.6 s pauses; the pause after the first is a little longer
    segments, t = [], 0.0
    for i in range(12):
        segments.append((t, t + 1.5))
        t += 1.5 + (0.9 if i == 0 else 0.6)
    cuts, rejected = plan_cuts(segments, t, Limits(max_seconds=15.0))
    assert not rejected and len(cuts) == 2
    assert min(c.seconds for c in cuts) > 5


def test_cues_that_overhang_the_vad_edges_still_split_a_long_run() -> None:
    cues = [(0.0, 10.3), (10.32, 20.1)]  # the VAD's speech is 0.05-20.0: both cues overhang it
    cuts, rejected = plan_cuts([(0.05, 10.0), (10.05, 20.0)], 21.0, LIMITS, cues)
    assert not rejected and [c.speech for c in cuts] == [(0.05, 10.3), (10.32, 20.0)]

"""Which clips training holds out for eval: one deterministic rule that `train`, `prepare`'s and
`dataset check`'s leakage reports share, so what they report is the split training makes."""

from __future__ import annotations

import random


def held_out_indices(count: int, eval_fraction: float, seed: int) -> set[int]:
    """Indices of the eval clips among `count`; at least one when eval_fraction > 0 and count >= 2."""
    if eval_fraction <= 0 or count < 2:
        return set()
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return set(order[: max(1, round(eval_fraction * count))])

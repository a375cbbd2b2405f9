"""accelerate's `init_empty_weights`, one thread at a time.

Inside it, `nn.Module.register_parameter` (and `register_buffer`) are swapped for the whole process,
not the calling thread. Two threads inside at once (the studio asks `plan` from several requests)
restore each other's swap in the wrong order and leave every module built afterwards, anywhere in the
process, on the meta device. Everything the kit builds empty goes through `empty_weights`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_ONE_AT_A_TIME = threading.RLock()
"""Held while a model is built empty (re-entrant: one empty build may start another)."""


@contextmanager
def empty_weights(include_buffers: bool = False) -> Iterator[None]:
    """`accelerate.init_empty_weights(include_buffers)`, with no other thread inside meanwhile."""
    from accelerate import init_empty_weights

    with _ONE_AT_A_TIME, init_empty_weights(include_buffers=include_buffers):
        yield

"""Which process am I? Single-process runs and `accelerate launch` / torchrun runs, one code path.

Under a multi-process launch (WORLD_SIZE > 1) the accelerate state is created here with the same
`cpu` flag the Trainer will use (the state is a process-wide singleton: the first creator decides
the backend, gloo on CPU, NCCL on GPUs). Only the main process writes the cache, checkpoints, the
adapter and reports; the others wait where that matters.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any


class Ranks:
    def __init__(self) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self._state: Any = None
        if self.world_size > 1:
            import torch
            from accelerate import PartialState

            self._state = PartialState(cpu=not torch.cuda.is_available())

    @property
    def is_main(self) -> bool:
        return self._state is None or self._state.is_main_process

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """The main process runs the block first; the others run it after (then finding its results)."""
        if self._state is None:
            yield
        else:
            with self._state.main_process_first():
                yield

    def wait(self) -> None:
        if self._state is not None:
            self._state.wait_for_everyone()

"""Length-bucketed training order that depends only on (seed, epoch), so `--resume` finds the same order.

transformers' `LengthGroupedSampler` draws each epoch's order from one generator that advances with every
pass, so epoch N's order exists only in a process that has run epochs 0..N-1. A resumed process starts
that generator from the seed again: its first pass (the resumed epoch) replays epoch 0's order, and
`skip_first_batches` skips batches that epoch never trained (24 clips, 10 steps into epoch 2: 5 clips
trained twice, 5 never). Here every pass seeds a fresh generator with `seed + epoch`, the way
`DistributedSampler` does, and the Trainer sets the epoch through `set_epoch` before each pass:
transformers 4.46 and 5.x call `DataLoaderShard.set_epoch(epoch)` in their epoch loop, resumed epoch
included, and accelerate hands it to the sampler under its batch sampler (see
`HiggsTrainer.get_resumed_dataloader` for the one case it does not reach).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from transformers.trainer_pt_utils import LengthGroupedSampler, get_length_grouped_indices


class EpochLengthGroupedSampler(LengthGroupedSampler):
    """`LengthGroupedSampler` (similar lengths together, longest batch first) seeded per epoch."""

    def __init__(self, batch_size: int, lengths: list[int], seed: int) -> None:
        super().__init__(batch_size, lengths=lengths)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        # accelerate may give the sampler a `generator` and synchronise it across processes; the order
        # does not use it, so every process draws the same order from the seed and epoch anyway.
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=generator))

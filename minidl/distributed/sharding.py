"""The data: each rank's share of every global batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from minidl.adapters import DatasetWrapper
from minidl.errors import MinidlError
from minidl.interfaces import Batch, Dataset


def share_sizes(batch: int, world_size: int) -> list[int]:
    """Examples each rank takes from a global batch of ``batch``: as even as possible."""
    return [len(range(rank, batch, world_size)) for rank in range(world_size)]


class ShardedDataset(DatasetWrapper):
    """A dataset whose training batches are this rank's share of each global batch.

    ``batches(batch_size, generator)`` asks the wrapped dataset for batches of
    ``world_size * batch_size`` (the same ones on every rank, since every rank's
    generator has the same seed) and yields rows ``rank::world_size`` of each.
    ``weight`` is this rank's fraction of the current global batch, by which its
    gradient counts in the average. Evaluation (``tensors``) sees the whole split on
    every rank; everything else is the wrapped dataset's.
    """

    def __init__(self, data: Dataset, rank: int, world_size: int) -> None:
        if not 0 <= rank < world_size:
            raise MinidlError(f"rank {rank} is not in 0..{world_size - 1}")
        super().__init__(data)
        self.rank, self.world_size = rank, world_size
        self.weight = 1.0 / world_size

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        """This rank's share of each global batch of ``world_size * batch_size``."""
        for X, y in self.data.batches(batch_size * self.world_size, generator):
            m = len(X)
            if self.rank < m:
                self.weight = share_sizes(m, self.world_size)[self.rank] / m
                yield X[self.rank :: self.world_size], y[self.rank :: self.world_size]
            else:  # a short last batch with fewer examples than ranks: a stand-in that counts 0
                self.weight = 0.0
                yield X[:1], y[:1]

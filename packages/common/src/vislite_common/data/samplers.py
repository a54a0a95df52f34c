"""Samplers whose order and augmentations depend only on ``(seed, epoch)``, so a resumed run sees the same data."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sized
from contextlib import contextmanager

import torch
from torch.utils.data import Sampler

SeededIndex = tuple[int, int]  # (dataset index, augmentation seed)


class EpochShuffleSampler(Sampler[SeededIndex]):
    """A random permutation per epoch, yielding ``(index, augmentation seed)`` pairs.

    Both the order and each sample's seed come from ``(seed, epoch)``: Lightning calls :meth:`set_epoch`
    before every training epoch (and wraps this sampler on several devices), so neither depends on how many
    epochs this process has run nor on the number of workers. Datasets apply their random transforms inside
    :func:`seeded_augmentation` with the given seed.
    """

    def __init__(self, data: Sized, *, seed: int = 0) -> None:
        self.data, self.seed, self.epoch = data, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[SeededIndex]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(len(self.data), generator=generator)
        seeds = torch.randint(0, 2**31 - 1, (len(self.data),), generator=generator)
        return iter(zip(order.tolist(), seeds.tolist()))


@contextmanager
def seeded_augmentation(seed: int | None) -> Iterator[None]:
    """Run the body with torch's and ``random``'s global generators seeded by ``seed``, then restore them.

    ``None`` leaves the generators alone (evaluation, or a plain integer index).
    """
    if seed is None:
        yield
        return
    python_state = random.getstate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        random.seed(seed)
        try:
            yield
        finally:
            random.setstate(python_state)


def split_index(item: int | SeededIndex) -> tuple[int, int | None]:
    """``(index, seed)`` from a sampler item that is a plain index or an ``(index, seed)`` pair."""
    if isinstance(item, (tuple, list)):
        return int(item[0]), int(item[1])
    return int(item), None

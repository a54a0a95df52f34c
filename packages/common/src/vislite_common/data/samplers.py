"""Samplers whose order and augmentations depend only on ``(seed, epoch)``, so a resumed run sees the same data."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sized
from contextlib import contextmanager

import torch
import numpy as np
from torch.utils.data import Sampler, get_worker_info

SeededIndex = tuple[int, int]  # (dataset index, augmentation seed)


class EpochShuffleSampler(Sampler[SeededIndex]):
    """A random permutation per epoch, yielding ``(index, augmentation seed)`` pairs.

    Both the order and each sample's seed come from ``(seed, epoch)``: Lightning calls :meth:`set_epoch`
    before every training epoch (and wraps this sampler on several devices), so neither depends on how many
    epochs this process has run nor on the number of workers. Datasets apply their random transforms inside
    :func:`augmentation_seeded` with the given seed.
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
def augmentation_seeded(seed: int | None) -> Iterator[None]:
    """Run the body with torch's CPU generator, ``random`` and numpy seeded by ``seed``, then restore all three.

    numpy is included because timm's RandAugment draws its ops from it. Only the CPU generator is touched:
    ``torch.manual_seed`` would also queue a seed for every lazily initialised accelerator backend, recording a
    Python stack trace each time (with ``fork_rng``, ~0.5 ms per sample with torch 2.14, in every DataLoader
    worker: +40% on a 256 px image). ``None`` leaves the generators alone (evaluation, plain integer indices).
    """
    if seed is None:
        yield
        return
    generator = torch.random.default_generator
    # In a DataLoader worker the generators serve only this dataset's samples: restoring them (~0.1 ms, mostly
    # numpy's) is skipped there. In the main process the training loop's generators are left as they were.
    restore = get_worker_info() is None
    states = (generator.get_state(), random.getstate(), np.random.get_state()) if restore else None
    generator.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        if states is not None:
            generator.set_state(states[0])
            random.setstate(states[1])
            np.random.set_state(states[2])


def split_index(item: int | SeededIndex) -> tuple[int, int | None]:
    """``(index, seed)`` from a sampler item that is a plain index or an ``(index, seed)`` pair."""
    if isinstance(item, (tuple, list)):
        return int(item[0]), int(item[1])
    return int(item), None

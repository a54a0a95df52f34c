"""The LightningDataModule base: a global batch size split over devices, seeded workers and shuffling."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from vislite_common.data.samplers import EpochShuffleSampler


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed numpy and ``random`` in a DataLoader worker from torch's per-worker seed.

    torch seeds each worker with ``base_seed + worker_id`` (``base_seed`` drawn from the loader's generator);
    numpy and ``random`` would otherwise start from the state copied from the parent, identical in every worker.
    """
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


class EpochShuffleIndices(Sampler[int]):
    """:class:`EpochShuffleSampler`'s per-epoch order as plain indices, for datasets that take ``int`` only."""

    def __init__(self, data: Dataset, *, seed: int = 0) -> None:
        self.sampler = EpochShuffleSampler(data, seed=seed)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[int]:
        return (index for index, _ in self.sampler)


def train_sampler(dataset: Dataset, seed: int) -> Sampler:
    """The seeded training sampler for ``dataset``.

    Datasets declaring ``accepts_seeded_index = True`` receive ``(index, augmentation seed)`` pairs from an
    :class:`EpochShuffleSampler` (augmentation then independent of workers and resumes); any other dataset
    receives plain indices in the same per-epoch order.
    """
    if getattr(dataset, "accepts_seeded_index", False):
        return EpochShuffleSampler(dataset, seed=seed)
    return EpochShuffleIndices(dataset, seed=seed)


class VisliteDataModule(pl.LightningDataModule):
    """Base datamodule: subclasses return their datasets from :meth:`build_datasets`; this class makes the loaders.

    Args:
        batch_size: the GLOBAL batch size; each of the trainer's ``world_size`` devices loads
            ``batch_size // world_size`` samples per step (:attr:`per_device_batch_size`), and ``setup`` raises a
            ``ValueError`` when it does not divide.
        num_workers: DataLoader worker processes (0 loads in the main process).
        pin_memory: page-locked host batches; ``None`` turns it on only when CUDA is available.
        persistent_workers: keep workers alive between epochs (only effective when ``num_workers > 0``).
        seed: seeds the training order (per epoch, see :class:`EpochShuffleSampler`), the per-sample augmentation
            seeds and the workers' base seed (through a ``torch.Generator``).
        drop_last_train: drop the last incomplete training batch.

    The training loader shuffles with :func:`train_sampler` (order, and for datasets that accept them the
    per-sample augmentation seeds, depend only on ``(seed, epoch)``, so resumed runs and any worker count see the
    same data); no ``DistributedSampler`` is set here: on several devices Lightning wraps the sampler, shards it
    and forwards ``set_epoch``.
    """

    def __init__(
        self,
        *,
        batch_size: int,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        seed: int = 0,
        drop_last_train: bool = True,
    ) -> None:
        super().__init__()
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive global batch size, got {batch_size}")
        if int(num_workers) < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else bool(pin_memory)
        self.persistent_workers = bool(persistent_workers)
        self.seed = int(seed)
        self.drop_last_train = bool(drop_last_train)
        self.datasets: dict[str, Dataset] = {}

    @property
    def world_size(self) -> int:
        """The attached trainer's number of processes (1 without a trainer)."""
        trainer = getattr(self, "trainer", None)
        return int(trainer.world_size) if trainer is not None else 1

    @property
    def per_device_batch_size(self) -> int:
        """``batch_size // world_size``; ``ValueError`` naming both when the global batch does not divide."""
        world = self.world_size
        if self.batch_size % world:
            raise ValueError(
                f"global batch_size {self.batch_size} does not divide over {world} devices (world size {world}); "
                f"use a multiple of {world}"
            )
        return self.batch_size // world

    def setup(self, stage: str | None = None) -> None:
        """Check the batch split, then build this stage's datasets (kept in :attr:`datasets`)."""
        _ = self.per_device_batch_size  # fail before any data is read
        built = self.build_datasets(stage)
        if not isinstance(built, Mapping):
            raise TypeError(f"{type(self).__name__}.build_datasets must return a dict of split -> dataset")
        self.datasets.update(built)

    def build_datasets(self, stage: str | None) -> Mapping[str, Dataset]:
        """Return ``{"train": ..., "val": ..., "test": ...}`` (at least the splits ``stage`` needs)."""
        raise NotImplementedError(f"{type(self).__name__} must implement build_datasets(stage)")

    def _dataset(self, split: str) -> Dataset:
        if split not in self.datasets:
            raise RuntimeError(
                f"{type(self).__name__} has no {split!r} dataset: call setup() first, or configure a {split} split"
            )
        return self.datasets[split]

    def _loader_args(self) -> dict:
        workers = self.num_workers
        return dict(
            batch_size=self.per_device_batch_size,
            num_workers=workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers and workers > 0,
            worker_init_fn=seed_worker if workers > 0 else None,
            generator=torch.Generator().manual_seed(self.seed),
        )

    def _train_loader(self, dataset: Dataset) -> DataLoader:
        """Shuffled (seeded per epoch), last incomplete batch dropped when ``drop_last_train``."""
        return DataLoader(
            dataset,
            sampler=train_sampler(dataset, self.seed),
            drop_last=self.drop_last_train,
            **self._loader_args(),
        )

    def _eval_loader(self, dataset: Dataset) -> DataLoader:
        """In order, every sample kept."""
        return DataLoader(dataset, shuffle=False, drop_last=False, **self._loader_args())

    def train_dataloader(self) -> DataLoader:
        return self._train_loader(self._dataset("train"))

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(self._dataset("val"))

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader(self._dataset("test"))

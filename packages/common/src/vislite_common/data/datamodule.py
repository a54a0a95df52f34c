"""The LightningDataModule base: global batch size split over devices, seeded workers, epoch-seeded shuffling."""

from __future__ import annotations

import random

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from vislite_common.data.samplers import EpochShuffleSampler


def seed_worker(worker_id: int) -> None:
    """Seed numpy and ``random`` in a DataLoader worker from torch's per-worker seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


class VisliteDataModule(pl.LightningDataModule):
    """Base datamodule: subclasses build datasets in :meth:`build_datasets`; this class builds the loaders.

    ``batch_size`` is the *global* batch: in ``setup`` it is divided by the trainer's world size (an error if
    it does not divide). ``pin_memory`` defaults to on only when CUDA is available; workers persist between
    epochs and are seeded; training order comes from an :class:`EpochShuffleSampler` (Lightning wraps it in a
    distributed sampler on several devices).
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
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive global batch size, got {batch_size}")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.persistent_workers = persistent_workers
        self.seed = seed
        self.drop_last_train = drop_last_train
        self.per_device_batch_size = batch_size
        self.datasets: dict[str, Dataset] = {}

    @property
    def world_size(self) -> int:
        trainer = getattr(self, "trainer", None)
        return int(trainer.world_size) if trainer is not None else 1

    def setup(self, stage: str | None = None) -> None:
        world = self.world_size
        if self.batch_size % world:
            raise ValueError(
                f"global batch_size {self.batch_size} does not divide over {world} devices; "
                f"use a multiple of {world}"
            )
        self.per_device_batch_size = self.batch_size // world
        self.datasets.update(self.build_datasets(stage))

    def build_datasets(self, stage: str | None) -> dict[str, Dataset]:
        """Return ``{"train": ..., "val": ..., "test": ...}`` (only the splits this stage needs)."""
        raise NotImplementedError

    def _dataset(self, split: str) -> Dataset:
        if split not in self.datasets:
            raise RuntimeError(f"no {split!r} dataset: call setup() first or configure the {split} split")
        return self.datasets[split]

    def _loader(self, dataset: Dataset, *, train: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.per_device_batch_size,
            sampler=EpochShuffleSampler(dataset, seed=self.seed) if train else None,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers and self.num_workers > 0,
            worker_init_fn=seed_worker,
            drop_last=train and self.drop_last_train,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self._dataset("train"), train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self._dataset("val"), train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self._dataset("test"), train=False)

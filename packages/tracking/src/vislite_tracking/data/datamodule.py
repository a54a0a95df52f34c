"""The training datamodule: sampled pairs from any mix of tracking datasets, or from the embedded world."""

from __future__ import annotations

import os
from collections.abc import Mapping
from collections.abc import Sequence as SequenceType
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from vislite_common.data.datamodule import VisliteDataModule
from vislite_common.data.world import make_got10k, make_lasot
from vislite_tracking.data.coco_pairs import coco_pairs
from vislite_tracking.data.registry import load_sequences
from vislite_tracking.data.sampler import CropSettings, SequenceSource, TrackingPairs
from vislite_tracking.data.transforms import PairAugmentation

SOURCE_KEYS = {"dataset", "root", "split", "weight"}


def open_source(spec: Mapping[str, Any], where: str) -> tuple[SequenceSource | list, float]:
    """``{"dataset": "lasot"|"got10k"|"otb"|"trackingnet"|"coco", "root", "split", "weight"}`` -> (source, weight).

    A root that does not exist is a FileNotFoundError naming the source, its dataset and the path.
    """
    unknown = set(spec) - SOURCE_KEYS
    if unknown or "dataset" not in spec or "root" not in spec:
        raise ValueError(f"{where}: expected keys dataset, root[, split, weight], got {sorted(spec)}")
    dataset, root, split = str(spec["dataset"]), spec["root"], spec.get("split")
    if not Path(root).is_dir():
        raise FileNotFoundError(
            f"{where}: {dataset} root {root} is not a directory (set paths.data_dir, or this source's root; "
            "drop the source from the mix to train without it)"
        )
    if dataset == "coco":
        return coco_pairs(root, split or "train"), float(spec.get("weight", 1.0))
    return load_sequences(dataset, root, split), float(spec.get("weight", 1.0))


class TrackingDataModule(VisliteDataModule):
    """Pairs from ``train_sources`` (mixed by weight) for training, ``val_sources`` for validation.

    Args:
        train_sources: ``[{dataset, root, split, weight}, ...]`` (the recipe: LaSOT, GOT-10k vot-train, COCO,
            TrackingNet at 1:1:1:1).
        val_sources: the same for validation (the recipe: GOT-10k vot-val), or empty.
        samples_per_epoch: training pairs per epoch (60000 in the recipe).
        val_samples: validation pairs (the same ones every time).
        max_gap: template-to-search frame gap limit (200).
        template_size, search_size, template_factor, search_factor, centre_jitter, scale_jitter: crops.
        grayscale_prob, flip_prob, brightness: augmentation; validation pairs get the joint grayscale and flip
            only, as the reference's (no brightness, no per-crop flip).
        min_frames: shortest usable video.
        **kwargs: batch_size (global), num_workers, seed, ... of :class:`VisliteDataModule`.
    """

    def __init__(
        self,
        *,
        train_sources: SequenceType[Mapping[str, Any]],
        val_sources: SequenceType[Mapping[str, Any]] = (),
        samples_per_epoch: int = 60000,
        val_samples: int = 10000,
        max_gap: int = 200,
        template_size: int = 128,
        search_size: int = 256,
        template_factor: float = 2.0,
        search_factor: float = 4.0,
        centre_jitter: float = 3.0,
        scale_jitter: float = 0.25,
        stride: int = 16,
        grayscale_prob: float = 0.05,
        flip_prob: float = 0.5,
        brightness: float = 0.2,
        min_frames: int = 20,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not train_sources:
            raise ValueError("train_sources is empty; name at least one dataset")
        self.train_sources, self.val_sources = list(train_sources), list(val_sources)
        self.samples_per_epoch, self.val_samples, self.max_gap = samples_per_epoch, val_samples, max_gap
        self.crops = CropSettings(
            template_size=template_size,
            search_size=search_size,
            template_factor=template_factor,
            search_factor=search_factor,
            centre_jitter=centre_jitter,
            scale_jitter=scale_jitter,
            stride=stride,
        )
        self.augmentation = PairAugmentation(grayscale_prob=grayscale_prob, flip_prob=flip_prob, brightness=brightness)
        self.min_frames = min_frames

    def _pairs(self, specs: list[Mapping[str, Any]], what: str, samples: int, train: bool) -> TrackingPairs:
        opened = [open_source(spec, f"{what}[{i}]") for i, spec in enumerate(specs)]
        return TrackingPairs(
            sources=[s for s, _ in opened],
            weights=[w for _, w in opened],
            samples_per_epoch=samples,
            max_gap=self.max_gap,
            crops=self.crops,
            augmentation=self.augmentation if train else self.augmentation.joint_only(),
            min_frames=self.min_frames,
            seed=self.seed,
        )

    def build_datasets(self, stage: str | None) -> dict[str, Dataset]:
        out: dict[str, Dataset] = {}
        if stage in (None, "fit"):
            out["train"] = self._pairs(self.train_sources, "train_sources", self.samples_per_epoch, train=True)
        if stage in (None, "fit", "validate") and self.val_sources:
            out["val"] = self._pairs(self.val_sources, "val_sources", self.val_samples, train=False)
        return out

    def val_dataloader(self) -> Any:
        return super().val_dataloader() if "val" in self.datasets else []


class WorldTrackingDataModule(TrackingDataModule):
    """:class:`TrackingDataModule` over the embedded tracking world at ``root`` (written on first use).

    Training pairs come from its LaSOT sequences and GOT-10k ``train`` split (1:1), validation pairs from the
    GOT-10k ``val`` split, which the demo also tracks as held-out sequences.
    """

    def __init__(
        self,
        *,
        root: str | os.PathLike,
        world_seed: int = 0,
        frame_size: tuple[int, int] = (160, 120),
        lasot_sequences: int = 8,
        got10k_train: int = 8,
        got10k_val: int = 4,
        num_frames: int = 40,
        **kwargs: Any,
    ) -> None:
        self.root = Path(root)
        self.world = dict(seed=world_seed, frame_size=tuple(frame_size), num_frames=num_frames)
        self.counts = dict(lasot=lasot_sequences, train=got10k_train, val=got10k_val)
        train = [
            {"dataset": "lasot", "root": str(self.root / "lasot"), "split": None, "weight": 1},
            {"dataset": "got10k", "root": str(self.root / "got10k"), "split": "train", "weight": 1},
        ]
        val = [{"dataset": "got10k", "root": str(self.root / "got10k"), "split": "val", "weight": 1}]
        kwargs.setdefault("train_sources", train)
        kwargs.setdefault("val_sources", val)
        super().__init__(**kwargs)

    def prepare_data(self) -> None:
        write_tracking_world(self.root, **self.world, **self.counts)


def write_tracking_world(
    root: str | os.PathLike,
    *,
    seed: int = 0,
    frame_size: tuple[int, int] = (160, 120),
    num_frames: int = 40,
    lasot: int = 8,
    train: int = 8,
    val: int = 4,
) -> Path:
    """Write (once) the embedded LaSOT world to ``root/lasot`` and the GOT-10k one to ``root/got10k``."""
    root = Path(root)
    make_lasot(root / "lasot", seed=seed, frame_size=frame_size, num_sequences=lasot, num_frames=num_frames)
    make_got10k(root / "got10k", seed=seed, frame_size=frame_size, num_train=train, num_val=val, num_frames=num_frames)
    return root

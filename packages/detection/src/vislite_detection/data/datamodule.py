"""The COCO detection LightningDataModule: multi-scale + flip training, aspect-ratio grouped batches."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import torch
from torch.utils.data import DataLoader, Dataset

from vislite_common.data.datamodule import VisliteDataModule, seed_worker, train_sampler
from vislite_common.data.world import make_coco
from vislite_detection.data.annotations import InvalidBoxes
from vislite_detection.data.collate import collate_detection
from vislite_detection.data.dataset import CocoDetection
from vislite_detection.data.sampler import GroupedBatchSampler
from vislite_detection.data.split_checks import check_splits
from vislite_detection.data.transforms import eval_transforms, train_transforms

COCO_TRAIN_SCALES = (640, 672, 704, 736, 768, 800)


class CocoDetectionDataModule(VisliteDataModule):
    """COCO instances under ``root`` for training (``train_*``), validation (``val_*``) and testing (``test_*``,
    defaulting to the validation split).

    Paths are relative to ``root`` unless absolute. Training images get a shorter side drawn from
    ``train_scales`` (longer side at most ``max_size``) and a horizontal flip; evaluation images a shorter side of
    ``test_scale``. ``batch_size`` is the global batch (divided by the world size); with
    ``group_by_aspect_ratio`` the training batches hold only landscape or only portrait images. Batches are
    ``(list[Tensor], list[dict])`` (see :class:`CocoDetection` for the targets). ``invalid_boxes="skip"`` leaves
    out, with a warning, boxes of non-positive size (COCO train2017 has two of height 0) instead of raising.
    ``clip_border`` clips the training boxes (noisy, clean and crowd) to the resized image, as mmdetection's
    ``Resize(bbox_clip_border=True)``; ``filter_empty_gt`` drops unannotated training images (mmdetection's).
    The remaining keyword arguments
    are :class:`~vislite_common.data.datamodule.VisliteDataModule`'s.
    """

    same_categories_across_splits = True
    """Whether val / test must list the training file's categories (open-vocabulary subclasses set False)."""

    def __init__(
        self,
        *,
        root: str | os.PathLike,
        train_ann: str = "annotations/instances_train2017.json",
        val_ann: str = "annotations/instances_val2017.json",
        train_images: str = "train2017",
        val_images: str = "val2017",
        test_ann: str | None = None,
        test_images: str | None = None,
        batch_size: int,
        num_workers: int = 0,
        train_scales: Sequence[int] = COCO_TRAIN_SCALES,
        max_size: int | None = 1333,
        test_scale: int = 800,
        flip_prob: float = 0.5,
        with_masks: bool = False,
        invalid_boxes: InvalidBoxes = "error",
        group_by_aspect_ratio: bool = True,
        clip_border: bool = False,
        filter_empty_gt: bool = False,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        seed: int = 0,
        drop_last_train: bool = True,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=persistent_workers,
            seed=seed,
            drop_last_train=drop_last_train,
        )
        self.root = Path(root)
        self.splits = {
            "train": (train_ann, train_images),
            "val": (val_ann, val_images),
            "test": (test_ann or val_ann, test_images or val_images),
        }
        self.train_tf = train_transforms(
            scales=list(train_scales), max_size=max_size, flip_prob=flip_prob, clip_border=clip_border
        )
        self.filter_empty_gt = bool(filter_empty_gt)
        self.eval_tf = eval_transforms(scale=test_scale, max_size=max_size)
        self.with_masks = bool(with_masks)
        self.invalid_boxes: InvalidBoxes = invalid_boxes
        self.group_by_aspect_ratio = bool(group_by_aspect_ratio)

    def _path(self, relative: str) -> Path:
        return self.root / relative

    def make_dataset(self, split: Literal["train", "val", "test"]) -> CocoDetection:
        """The :class:`CocoDetection` of ``split`` with its transforms."""
        ann, images = self.splits[split]
        return CocoDetection(
            image_dir=self._path(images),
            ann_file=self._path(ann),
            transforms=self.train_tf if split == "train" else self.eval_tf,
            with_masks=self.with_masks,
            invalid_boxes=self.invalid_boxes,
            filter_empty_gt=self.filter_empty_gt and split == "train",
        )

    def build_datasets(self, stage: str | None) -> Mapping[str, Dataset]:
        wanted = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("test",)}
        splits = wanted.get(stage or "", ("train", "val", "test"))
        built = {split: self.make_dataset(split) for split in splits if split not in self.datasets}
        # an empty training set, a category mismatch between splits: errors before any epoch
        check_splits({**self.datasets, **built}, same_categories=self.same_categories_across_splits)
        return built

    def _common_args(self) -> dict:
        workers = self.num_workers
        return dict(
            num_workers=workers,
            collate_fn=collate_detection,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers and workers > 0,
            worker_init_fn=seed_worker if workers > 0 else None,
            generator=torch.Generator().manual_seed(self.seed),  # the workers' base seed
        )

    def _train_loader(self, dataset: Dataset) -> DataLoader:
        """Seeded per-epoch order; aspect-grouped batches when asked, else plain batches."""
        sampler = train_sampler(dataset, self.seed)
        if self.group_by_aspect_ratio:
            batches = GroupedBatchSampler(
                sampler, self.per_device_batch_size, self.drop_last_train, group_ids=dataset.aspect_groups()
            )
            return DataLoader(dataset, batch_sampler=batches, **self._common_args())
        return DataLoader(
            dataset,
            sampler=sampler,
            batch_size=self.per_device_batch_size,
            drop_last=self.drop_last_train,
            **self._common_args(),
        )

    def _eval_loader(self, dataset: Dataset) -> DataLoader:
        """In order, every image kept."""
        return DataLoader(dataset, batch_size=self.per_device_batch_size, shuffle=False, **self._common_args())


class WorldDetectionDataModule(CocoDetectionDataModule):
    """:class:`CocoDetectionDataModule` over the embedded COCO world at ``root``, written there on first use.

    ``prepare_data`` generates the world (deterministic in ``world_seed`` and the size arguments) when it is
    missing, so the same config runs on a machine with no dataset downloaded.
    """

    def __init__(
        self,
        *,
        world_seed: int = 0,
        image_size: int = 128,
        num_train: int = 64,
        num_val: int = 16,
        segmentation: Literal["polygon", "rle"] = "polygon",
        train_ann: str = "annotations/instances_train.json",
        val_ann: str = "annotations/instances_val.json",
        train_images: str = "train",
        val_images: str = "val",
        **kwargs: object,
    ) -> None:
        super().__init__(
            train_ann=train_ann, val_ann=val_ann, train_images=train_images, val_images=val_images, **kwargs
        )
        self.world = dict(
            seed=world_seed, image_size=image_size, num_train=num_train, num_val=num_val, segmentation=segmentation
        )

    def prepare_data(self) -> None:
        make_coco(self.root, progress=True, **self.world)

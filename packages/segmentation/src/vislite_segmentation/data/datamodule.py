"""Datamodules for ADE20K-layout data (``images/{training,validation}``, ``annotations/{training,validation}``)
and for the embedded world written in that layout."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from torch.utils.data import DataLoader

from vislite_common.data.datamodule import VisliteDataModule
from vislite_common.data.formats.ade20k import ade20k_pairs
from vislite_common.data.world import make_ade20k
from vislite_segmentation.data.dataset import SegmentationDataset, collate_eval
from vislite_segmentation.data.transforms import ADE_MEAN, ADE_STD, SegEvalTransform, SegTrainTransform
from vislite_segmentation.eval.miou import IGNORE_INDEX


class SegmentationDataModule(VisliteDataModule):
    """Train / val / test splits of an ADE20K-layout ``root`` with mmseg's ADE20K transforms.

    ``batch_size`` is global (divided by the world size); evaluation loaders yield lists (:func:`collate_eval`)
    because images keep their own aspect ratio. ``class_names`` (optional) must have ``num_classes`` entries.
    ``reduce_zero_label`` / ``ignore_index`` describe the label files (see :class:`SegmentationDataset`).
    The transform arguments default to mmseg's ADE20K pipeline (``PhotoMetricDistortion``'s brightness delta 32,
    contrast and saturation ranges (0.5, 1.5), hue delta 18).
    """

    def __init__(
        self,
        *,
        root: str | os.PathLike,
        num_classes: int,
        batch_size: int,
        class_names: Sequence[str] | None = None,
        reduce_zero_label: bool = True,
        ignore_index: int = IGNORE_INDEX,
        train_split: str = "training",
        val_split: str = "validation",
        test_split: str | None = "validation",
        scale: Sequence[int] = (2048, 512),
        ratio_range: Sequence[float] = (0.5, 2.0),
        crop_size: int = 512,
        cat_max_ratio: float = 0.75,
        flip_prob: float = 0.5,
        photometric: bool = True,
        brightness_delta: int = 32,
        contrast_range: Sequence[float] = (0.5, 1.5),
        saturation_range: Sequence[float] = (0.5, 1.5),
        hue_delta: int = 18,
        eval_scale: Sequence[int] | None = (2048, 512),
        mean: Sequence[float] = ADE_MEAN,
        std: Sequence[float] = ADE_STD,
        num_workers: int = 0,
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
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"class_names has {len(class_names)} entries but num_classes is {num_classes}")
        self.root, self.num_classes = str(root), int(num_classes)
        self.class_names = list(class_names) if class_names is not None else None
        self.reduce_zero_label, self.ignore_index = bool(reduce_zero_label), int(ignore_index)
        self.splits: dict[str, str | None] = {"train": train_split, "val": val_split, "test": test_split}
        self.train_transform = SegTrainTransform(
            scale=scale,
            ratio_range=ratio_range,
            crop_size=crop_size,
            cat_max_ratio=cat_max_ratio,
            flip_prob=flip_prob,
            photometric=photometric,
            brightness_delta=brightness_delta,
            contrast_range=contrast_range,
            saturation_range=saturation_range,
            hue_delta=hue_delta,
            mean=mean,
            std=std,
        )
        self.eval_transform = SegEvalTransform(scale=eval_scale, mean=mean, std=std)

    def build_datasets(self, stage: str | None) -> dict[str, SegmentationDataset]:
        """The splits ``stage`` needs (fit: train + val, validate: val, test / predict: test, None: all)."""
        needed = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("test",)}.get(
            str(stage), ("train", "val", "test")
        )
        out: dict[str, SegmentationDataset] = {}
        for split in needed:
            folder = self.splits[split]
            if folder is None or split in self.datasets:
                continue
            out[split] = SegmentationDataset(
                ade20k_pairs(self.root, folder),
                num_classes=self.num_classes,
                transform=self.train_transform if split == "train" else self.eval_transform,
                reduce_zero_label=self.reduce_zero_label,
                ignore_index=self.ignore_index,
            )
        return out

    def _eval_loader(self, dataset: SegmentationDataset) -> DataLoader:
        return DataLoader(dataset, shuffle=False, drop_last=False, collate_fn=collate_eval, **self._loader_args())


class WorldSegmentationDataModule(SegmentationDataModule):
    """:class:`SegmentationDataModule` over the embedded ADE20K-layout world at ``root``, generated by
    ``prepare_data`` when missing (deterministic in ``world_seed``, ``image_size``, ``num_train``, ``num_val``).
    Class names are read from the world's ``classes.json`` (label 0 = "other" is ignored)."""

    def __init__(
        self, *, world_seed: int = 0, image_size: int = 128, num_train: int = 64, num_val: int = 16, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.world_seed, self.image_size = int(world_seed), int(image_size)
        self.num_train, self.num_val = int(num_train), int(num_val)

    def prepare_data(self) -> None:
        make_ade20k(
            self.root, seed=self.world_seed, image_size=self.image_size, num_train=self.num_train, num_val=self.num_val
        )

    def build_datasets(self, stage: str | None) -> dict[str, SegmentationDataset]:
        table = Path(self.root) / "classes.json"
        if self.class_names is None and table.is_file():
            classes = json.loads(table.read_text())["classes"]
            self.class_names = [c["name"] for c in classes if c["kind"] != "ignore"]
        return super().build_datasets(stage)

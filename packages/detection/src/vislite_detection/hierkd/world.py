"""HierKD on the embedded world: seen / unseen annotation files next to the world, and a fitted surrogate teacher."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from vislite_common.data.world import make_coco
from vislite_detection.data.datamodule import WorldDetectionDataModule
from vislite_detection.hierkd.ovd_split import load_class_split, make_ovd_split, write_ovd_split
from vislite_detection.hierkd.regions import CROP_SIZE, resize_pad
from vislite_detection.hierkd.surrogate import WorldSurrogateTeacher, fit_surrogate
from vislite_detection.models.transform import IMAGENET_MEAN, IMAGENET_STD

OVD_FILES = ("instances_train_seen.json", "instances_val_unseen.json", "instances_val_seen_unseen.json")


def write_world_ovd_split(root: str | os.PathLike) -> Path:
    """Write the open-vocabulary files of the world at ``root`` (from its ``class_split.json``) once; returns
    the annotations folder."""
    ann = Path(root) / "annotations"
    if all((ann / name).is_file() for name in OVD_FILES):
        return ann
    train = json.loads((ann / "instances_train.json").read_text("utf-8"))
    val = json.loads((ann / "instances_val.json").read_text("utf-8"))
    write_ovd_split(make_ovd_split(train, val, load_class_split(ann / "class_split.json")), ann)
    return ann


class WorldOVDDataModule(WorldDetectionDataModule):
    """The embedded world for open-vocabulary detection: trains on ``instances_train_seen.json`` and evaluates
    on ``instances_val_unseen.json`` (ZSD) by default; ``val_ann=annotations/instances_val_seen_unseen.json``
    gives GZSD. The split files are written in ``prepare_data`` after the world."""

    same_categories_across_splits = False  # seen categories for training, unseen (or all) for evaluation

    def __init__(
        self,
        *,
        train_ann: str = "annotations/instances_train_seen.json",
        val_ann: str = "annotations/instances_val_unseen.json",
        **kwargs: object,
    ) -> None:
        super().__init__(train_ann=train_ann, val_ann=val_ann, **kwargs)

    def prepare_data(self) -> None:
        super().prepare_data()
        write_world_ovd_split(self.root)


def world_crops(
    root: str | os.PathLike, *, split: str = "train", limit: int | None = None, n_px: int = CROP_SIZE
) -> tuple[torch.Tensor, list[str]]:
    """Teacher-input crops (n, 3, n_px, n_px) of every annotated object of the world's ``split`` (all classes),
    cut from ImageNet-normalised images as the detector's input is (truncated box, aspect-preserving bicubic
    resize, zero padding: :func:`~vislite_detection.hierkd.extract_regions` at ``n_px``), with class names."""
    from vislite_detection.data.dataset import CocoDetection

    root = Path(root)
    ds = CocoDetection(image_dir=root / split, ann_file=root / "annotations" / f"instances_{split}.json")
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    crops, names = [], []
    for i in range(len(ds)):
        image, target = ds[i]
        img = (image.as_subclass(torch.Tensor) - mean) / std
        boxes = target["boxes"].as_subclass(torch.Tensor)
        for x1, y1, x2, y2 in boxes.int().clamp(min=0).tolist():
            crops.append(resize_pad(img[:, y1 : y2 + 1, x1 : x2 + 1].unsqueeze(0), n_px))
        if len(boxes):
            names += [ds.category_names[int(label) - 1] for label in target["labels"]]
        if limit is not None and len(names) >= limit:
            break
    return torch.cat(crops)[:limit], names[:limit]


def world_surrogate_teacher(
    *,
    root: str | os.PathLike,
    world_seed: int = 0,
    image_size: int = 128,
    num_train: int = 64,
    num_val: int = 16,
    width: int = 64,
    input_size: int = 24,
    steps: int = 300,
    max_crops: int | None = 2000,
    seed: int = 0,
) -> WorldSurrogateTeacher:
    """The world's surrogate teacher fitted on crops of all its shapes (the world is written if missing, with
    the data module's arguments). The fitted weights are cached under ``root`` and reused."""
    make_coco(root, seed=world_seed, image_size=image_size, num_train=num_train, num_val=num_val)
    torch.manual_seed(seed)
    teacher = WorldSurrogateTeacher(width=width, input_size=input_size)
    cache = Path(root) / f"surrogate_teacher_w{width}_i{input_size}_s{steps}_n{max_crops}_seed{seed}.pt"
    if cache.is_file():
        teacher.load_state_dict(torch.load(cache, map_location="cpu", weights_only=True))
        teacher.eval()
        return teacher
    crops, names = world_crops(root, limit=max_crops, n_px=teacher.input_size)
    fit_surrogate(teacher, crops, names, steps=steps, seed=seed)
    tmp = cache.with_suffix(".tmp")
    torch.save(teacher.state_dict(), tmp)
    os.replace(tmp, cache)
    return teacher

"""COCO instances as ``(image, target)`` pairs for torchvision detectors (boxes, labels, crowd regions, masks)."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from vislite_common.data.decode import decode_image_file
from vislite_common.data.samplers import SeededIndex, augmentation_seeded, split_index
from vislite_detection.data.annotations import (
    CLEAN_BBOX,
    InvalidBoxes,
    check_image_files,
    clean_bbox_field,
    read_coco_json,
)
from vislite_detection.data.categories import label_maps
from vislite_detection.data.errors import AnnotationError
from vislite_detection.data.masks import check_segmentation, decode_segmentation

Target = dict[str, Any]
MMDET_MIN_IMAGE_SIZE = 32
"""``filter_empty_gt`` also drops images with a side under this many pixels, as mmdetection's filter does."""
Transforms = Callable[[tv_tensors.Image, Target], tuple[tv_tensors.Image, Target]]


def coco_from_dict(data: dict[str, Any]) -> COCO:
    """A pycocotools ``COCO`` indexed from an already loaded (and checked) dict, without its progress prints."""
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def xywh_to_xyxy(boxes: list[list[float]]) -> torch.Tensor:
    """COCO ``[x, y, w, h]`` rows -> ``(N, 4)`` float32 XYXY (``(0, 4)`` when empty)."""
    out = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)  # [N, 4] xywh
    out[:, 2:] += out[:, :2]
    return out


class CocoDetection(Dataset):
    """A COCO instance file read for torchvision detectors; every image is kept, including those with no objects.

    Item ``(image, target)``: ``image`` a float32 ``tv_tensors.Image`` (3, H, W) in [0, 1] (normalisation is the
    detector's), ``target`` a dict with
    ``boxes`` (N, 4) XYXY ``BoundingBoxes`` of the non-crowd instances, ``labels`` int64 (N,) in 1..K (sorted
    category ids; 0 = background), ``image_id`` int, ``area`` float32 (N,) (as annotated, not rescaled),
    ``iscrowd`` int64 zeros (N,), ``crowd_boxes`` (M, 4) XYXY ``BoundingBoxes`` of ``iscrowd=1`` regions,
    ``orig_size`` int64 (H, W) as annotated, ``masks`` uint8 ``Mask`` (N, H, W) when ``with_masks``, and
    ``clean_boxes`` (N, 4) XYXY ``BoundingBoxes`` when the file carries ``clean_bbox`` or NDet's ``_bbox`` (noisy
    copies). ``filter_empty_gt`` drops, as mmdetection 2.x's training sets do, images without any annotation
    (crowd regions count) and images with a side under 32 px.
    Transforms (``transforms(image, target)``, e.g. ``torchvision.transforms.v2``) receive the uint8 image, so
    boxes, crowd boxes, clean boxes and masks follow every geometric change.

    Broken annotations raise :class:`~vislite_detection.data.errors.AnnotationError` at construction (boxes of
    non-positive size or outside their image are left out with a warning instead when ``invalid_boxes="skip"``);
    missing
    image files a ``FileNotFoundError``; an image whose decoded size differs from its ``width``/``height`` an
    ``AnnotationError`` when it is read. Indices may be ``(index, seed)`` pairs (seeded augmentation).
    """

    accepts_seeded_index = True

    def __init__(
        self,
        *,
        image_dir: str | os.PathLike,
        ann_file: str | os.PathLike,
        transforms: Transforms | None = None,
        with_masks: bool = False,
        invalid_boxes: InvalidBoxes = "error",
        filter_empty_gt: bool = False,
    ) -> None:
        self.image_dir = Path(image_dir)
        self.ann_file = Path(ann_file)
        self.transforms = transforms
        self.with_masks = bool(with_masks)
        data = read_coco_json(self.ann_file, invalid_boxes=invalid_boxes)
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"{self.image_dir}: image folder of {self.ann_file} not found")
        check_image_files(data["images"], self.image_dir, self.ann_file)
        self.coco = coco_from_dict(data)
        self.ids: list[int] = sorted(self.coco.imgs)
        if filter_empty_gt:  # mmdetection's training-set filter (CocoDataset._filter_imgs, min_size 32)
            annotated = {ann["image_id"] for ann in data["annotations"]}
            small = {i for i, im in self.coco.imgs.items() if min(im["width"], im["height"]) < MMDET_MIN_IMAGE_SIZE}
            self.ids = [i for i in self.ids if i in annotated and i not in small]
        self.label_to_category_id, self.category_id_to_label, self.category_names = label_maps(data["categories"])
        self.has_clean_boxes = self._check_clean_boxes(data["annotations"])
        self.coco_images = {image["id"]: image for image in data["images"]}
        if self.with_masks:
            self._check_segmentations(data["annotations"])

    def _check_clean_boxes(self, anns: list[dict[str, Any]]) -> bool:
        instances = [ann for ann in anns if not ann.get("iscrowd", 0)]
        carrying = [clean_bbox_field(ann) is not None for ann in instances]
        if any(carrying) and not all(carrying):
            missing = instances[carrying.index(False)]
            raise AnnotationError(
                self.ann_file,
                f"annotation id {missing['id']}",
                CLEAN_BBOX,
                "is missing while other annotations carry it",
                "write clean boxes for every instance (vislite-det noise does) or for none",
            )
        return any(carrying)

    def _check_segmentations(self, anns: list[dict[str, Any]]) -> None:
        for ann in anns:
            if not ann.get("iscrowd", 0) and not ann.get("segmentation"):
                raise AnnotationError(
                    self.ann_file,
                    f"annotation id {ann['id']}",
                    "segmentation",
                    "is missing or empty while masks are requested",
                    "add a polygon or RLE mask, or set with_masks=False",
                )
            if not ann.get("iscrowd", 0):  # polygons of >= 3 points, RLE sizes matching the image
                record = f"annotation id {ann['id']} (image id {ann['image_id']})"
                check_segmentation(ann["segmentation"], self.coco_images[ann["image_id"]], self.ann_file, record)

    def __len__(self) -> int:
        return len(self.ids)

    def image_info(self, index: int) -> dict[str, Any]:
        """The ``images`` record of item ``index``."""
        return self.coco.imgs[self.ids[index]]

    def aspect_groups(self) -> list[int]:
        """Per item: 0 for landscape or square images (w >= h), 1 for portrait ones (w < h)."""
        return [int(self.coco.imgs[i]["width"] < self.coco.imgs[i]["height"]) for i in self.ids]

    def read_image(self, index: int) -> tv_tensors.Image:
        """The uint8 (3, H, W) image of item ``index``, checked against its annotated width and height."""
        info = self.image_info(index)
        image = decode_image_file(self.image_dir / info["file_name"])
        height, width = image.shape[-2:]
        if (height, width) != (info["height"], info["width"]):
            raise AnnotationError(
                self.ann_file,
                f"image id {info['id']} ({info['file_name']})",
                "width/height",
                f"says {info['width']}x{info['height']} but the file is {width}x{height}",
                "correct width and height in the annotation file",
            )
        return tv_tensors.Image(image)

    def read_target(self, index: int) -> Target:
        """The untransformed target of item ``index`` (see the class docstring for the keys)."""
        info = self.image_info(index)
        size = (int(info["height"]), int(info["width"]))
        anns = self.coco.imgToAnns.get(info["id"], [])
        instances = [ann for ann in anns if not ann.get("iscrowd", 0)]
        crowds = [ann for ann in anns if ann.get("iscrowd", 0)]
        target: Target = {
            "boxes": tv_tensors.BoundingBoxes(
                xywh_to_xyxy([ann["bbox"] for ann in instances]), format="XYXY", canvas_size=size
            ),
            "labels": torch.tensor(
                [self.category_id_to_label[ann["category_id"]] for ann in instances], dtype=torch.int64
            ),
            "image_id": int(info["id"]),
            "area": torch.tensor([float(ann.get("area", 0.0)) for ann in instances], dtype=torch.float32),
            "iscrowd": torch.zeros(len(instances), dtype=torch.int64),
            "crowd_boxes": tv_tensors.BoundingBoxes(
                xywh_to_xyxy([ann["bbox"] for ann in crowds]), format="XYXY", canvas_size=size
            ),
            "orig_size": torch.tensor(size, dtype=torch.int64),
        }
        if self.has_clean_boxes:
            target["clean_boxes"] = tv_tensors.BoundingBoxes(
                xywh_to_xyxy([ann[clean_bbox_field(ann)] for ann in instances]), format="XYXY", canvas_size=size
            )
        if self.with_masks:
            masks = [self._mask(ann) for ann in instances]
            stacked = np.stack(masks) if masks else np.zeros((0, *size), dtype=np.uint8)  # [N, H, W]
            target["masks"] = tv_tensors.Mask(torch.from_numpy(stacked.astype(np.uint8)))
        return target

    def _mask(self, ann: dict[str, Any]) -> np.ndarray:
        """The (H, W) uint8 mask of a polygon or RLE ``segmentation`` (checked at construction)."""
        info = self.coco.imgs[ann["image_id"]]
        return decode_segmentation(ann["segmentation"], int(info["height"]), int(info["width"]))

    def __getitem__(self, item: int | SeededIndex) -> tuple[tv_tensors.Image, Target]:
        index, seed = split_index(item)
        image, target = self.read_image(index), self.read_target(index)
        if self.transforms is not None:
            with augmentation_seeded(seed):
                image, target = self.transforms(image, target)
        return F.to_dtype(image, torch.float32, scale=True), target

"""COCO images as static tracking pairs: every object of a COCO instances JSON is one (image, box) item.

As in the reference trainer's COCO pseudo-sequences, crowd annotations and boxes without area are skipped; a
sampler draws template and search from the same image (a one-frame :class:`Sequence`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vislite_common.data.formats import FormatError
from vislite_common.data.formats.errors import require_file
from vislite_tracking.data.frames import read_frame
from vislite_tracking.data.sequence import Sequence


@dataclass(frozen=True)
class CocoObject:
    """One annotated object: its image file, box x, y, w, h (px) and category name."""

    ann_id: int
    image: Path
    box: np.ndarray  # (4,) float64 x, y, w, h
    category: str


def _field(record: dict[str, Any], key: str, path: Path, where: str) -> Any:
    if key not in record:
        raise FormatError(path, f"{where} has no {key!r} field")
    return record[key]


def parse_coco_objects(annotation_file: Path, image_dir: Path) -> list[CocoObject]:
    """Non-crowd objects with w, h > 0 of a COCO instances JSON, in annotation order."""
    data = json.loads(require_file(annotation_file, "COCO instances JSON").read_text(encoding="utf-8"))
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise FormatError(annotation_file, f"expected a list under {key!r} (COCO instances format)")
    files = {
        _field(im, "id", annotation_file, "an image"): _field(im, "file_name", annotation_file, "an image")
        for im in data["images"]
    }
    names = {c["id"]: c.get("name", str(c["id"])) for c in data["categories"]}
    objects = []
    for k, ann in enumerate(data["annotations"]):
        where = f"annotation #{k}"
        bbox = _field(ann, "bbox", annotation_file, where)
        if not (isinstance(bbox, list) and len(bbox) == 4):
            raise FormatError(annotation_file, f"{where}: bbox is {bbox!r}, expected [x, y, w, h]")
        box = np.asarray(bbox, dtype=np.float64)
        if not np.isfinite(box).all():
            raise FormatError(annotation_file, f"{where}: bbox {bbox!r} is not finite")
        image_id = _field(ann, "image_id", annotation_file, where)
        if image_id not in files:
            raise FormatError(annotation_file, f"{where}: image_id {image_id!r} is not among the images")
        if ann.get("iscrowd", 0) or box[2] <= 0 or box[3] <= 0:
            continue
        category = names.get(ann.get("category_id"), str(ann.get("category_id")))
        objects.append(CocoObject(int(ann.get("id", k)), image_dir / files[image_id], box, category))
    return objects


class CocoPairs:
    """Indexable (image, box) items of a COCO split: ``pairs[i]`` = ((H, W, 3) uint8 RGB image, (4,) box xywh)."""

    def __init__(self, *, annotation_file: str | os.PathLike, image_dir: str | os.PathLike) -> None:
        self.annotation_file = Path(annotation_file)
        self.image_dir = Path(image_dir)
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"{self.image_dir}: missing COCO image folder (not a directory)")
        self.objects = parse_coco_objects(self.annotation_file, self.image_dir)
        if not self.objects:
            raise FormatError(self.annotation_file, "has no non-crowd object with a positive-size box")

    def __len__(self) -> int:
        return len(self.objects)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        obj = self.objects[index]
        return read_frame(obj.image), obj.box.copy()

    def as_sequence(self, index: int) -> Sequence:
        """Object ``index`` as a one-frame sequence named ``coco-<annotation id>``."""
        obj = self.objects[index]
        return Sequence(
            name=f"coco-{obj.ann_id}",
            dataset="coco",
            frames=[obj.image],
            boxes=obj.box[None].copy(),  # (1, 4)
            visible=np.ones(1, dtype=bool),
            object_class=obj.category,
        )


def coco_pairs(root: str | os.PathLike, split: str = "train") -> CocoPairs:
    """The pairs of ``<root>/annotations/instances_<split>.json`` with images in ``<root>/<split>`` or
    ``<root>/images/<split>`` (the embedded world's and COCO 2017's layouts, e.g. ``split="train2017"``)."""
    root = Path(root)
    annotation_file = root / "annotations" / f"instances_{split}.json"
    candidates = [root / split, root / "images" / split]
    image_dir = next((p for p in candidates if p.is_dir()), None)
    if image_dir is None:
        raise FileNotFoundError(f"{root}: no COCO image folder for split {split!r}; looked for {candidates}")
    return CocoPairs(annotation_file=annotation_file, image_dir=image_dir)

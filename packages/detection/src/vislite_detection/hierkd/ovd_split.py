"""Seen / unseen class splits (COCO 48/17 and 65/15 ship as package data) and the split annotation files."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from vislite_common.fileio import atomic_write_text

SPLITS = ("coco_48_17", "coco_65_15")

# COCO's 80 detection classes in category-id order.
COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip


def load_class_split(split: str | os.PathLike) -> dict[str, list[str]]:
    """``{"seen": [...], "unseen": [...]}``: a shipped split by name (``coco_48_17``, ``coco_65_15``) or a JSON
    file of that shape (e.g. the embedded world's ``annotations/class_split.json``)."""
    if isinstance(split, str) and split in SPLITS:
        text = resources.files("vislite_detection.hierkd").joinpath(f"splits/{split}.json").read_text("utf-8")
        data, where = json.loads(text), split
    else:
        path = Path(split)
        if not path.is_file():
            raise FileNotFoundError(f"class split {split!r}: neither a shipped split ({', '.join(SPLITS)}) nor a file")
        data, where = json.loads(path.read_text("utf-8")), str(path)
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("seen", "unseen")):
        raise ValueError(f"{where}: a class split needs 'seen' and 'unseen' lists of class names")
    both = set(data["seen"]) & set(data["unseen"])
    if both:
        raise ValueError(f"{where}: classes both seen and unseen: {sorted(both)}")
    if not data["seen"] or not data["unseen"]:
        raise ValueError(f"{where}: 'seen' and 'unseen' must both be non-empty")
    return {"seen": [str(n) for n in data["seen"]], "unseen": [str(n) for n in data["unseen"]]}


def _subset(coco: dict[str, Any], names: list[str], where: str, *, drop_images_with: set[int] = frozenset()) -> dict:
    by_name = {c["name"]: c for c in coco.get("categories", [])}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ValueError(f"{where}: categories {missing} of the split are not in the file's categories")
    keep_ids = {int(by_name[n]["id"]) for n in names}
    anns = [a for a in coco.get("annotations", []) if int(a["category_id"]) in keep_ids]
    bad_images = {int(a["image_id"]) for a in coco.get("annotations", []) if int(a["category_id"]) in drop_images_with}
    with_anns = {int(a["image_id"]) for a in anns} - bad_images
    images = [img for img in coco.get("images", []) if int(img["id"]) in with_anns]
    anns = [a for a in anns if int(a["image_id"]) in with_anns]
    categories = sorted((by_name[n] for n in names), key=lambda c: int(c["id"]))
    return {**coco, "images": images, "annotations": anns, "categories": categories}


def make_ovd_split(
    train: dict[str, Any],
    val: dict[str, Any],
    split: dict[str, list[str]],
    *,
    drop_train_images_with_unseen: bool = False,
) -> dict[str, dict[str, Any]]:
    """The open-vocabulary annotation files from COCO instance dicts.

    - ``instances_train_seen.json``: seen categories only, their annotations, the images holding at least one
      (with ``drop_train_images_with_unseen`` also no image holding an unseen object: the strict ZSD protocol);
    - ``instances_val_unseen.json``: unseen categories only, the images holding at least one (ZSD evaluation);
    - ``instances_val_seen_unseen.json``: seen + unseen categories (GZSD evaluation; classes outside the split
      are dropped), the images holding at least one.
    Category ids stay as in the source files.
    """
    seen, unseen = split["seen"], split["unseen"]
    by_name = {c["name"]: int(c["id"]) for c in train.get("categories", [])}
    unseen_ids = {by_name[n] for n in unseen if n in by_name} if drop_train_images_with_unseen else set()
    return {
        "instances_train_seen.json": _subset(train, seen, "train file", drop_images_with=unseen_ids),
        "instances_val_unseen.json": _subset(val, unseen, "val file"),
        "instances_val_seen_unseen.json": _subset(val, seen + unseen, "val file"),
    }


def write_ovd_split(files: dict[str, dict[str, Any]], out: str | os.PathLike) -> list[Path]:
    """Write ``make_ovd_split``'s files into ``out`` (atomically); returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in files.items():
        atomic_write_text(out / name, json.dumps(data))
        paths.append(out / name)
    return paths

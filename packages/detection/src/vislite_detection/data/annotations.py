"""Reading and checking COCO instance files: every broken record raises an :class:`AnnotationError`.

Checked: the top-level lists, unique image / category / annotation ids, image sizes, each annotation's image and
category, its ``bbox`` (four finite numbers, positive width and height, overlapping its image) and, when present,
its ``clean_bbox`` (the clean box kept beside a noisy one, see :data:`CLEAN_BBOX`), and that image files exist.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from vislite_detection.data.errors import AnnotationError, InvalidBoxError

InvalidBoxes = Literal["error", "skip"]

CLEAN_BBOX = "clean_bbox"
"""Annotation field holding the clean ``[x, y, w, h]`` box beside a noisy ``bbox`` (written by the noise tool)."""
CLEAN_BBOX_FIELDS = (CLEAN_BBOX, "_bbox")
"""Fields read as the clean box, first present wins: vislite's ``clean_bbox``, then NDet's ``_bbox`` (its
released noisy files keep the clean box there)."""


def clean_bbox_field(ann: Mapping[str, Any]) -> str | None:
    """The field of ``ann`` holding its clean box (:data:`CLEAN_BBOX_FIELDS`), or None."""
    return next((field for field in CLEAN_BBOX_FIELDS if field in ann), None)


def read_coco_json(path: str | os.PathLike, *, invalid_boxes: InvalidBoxes = "error") -> dict[str, Any]:
    """Load a COCO instance file and :func:`check_coco` it; FileNotFoundError / AnnotationError name the file.

    ``invalid_boxes="skip"`` leaves out the annotations whose box has a non-positive size or lies outside its
    image, with a warning naming them (COCO train2017 has two boxes of height 0), instead of raising.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: COCO annotation file not found")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as error:
        raise AnnotationError(path, "file", "(json)", f"is not valid JSON ({error})", "write a COCO JSON") from None
    invalid = check_coco(data, path, invalid_boxes=invalid_boxes)
    if invalid:
        dropped = set(invalid)
        data["annotations"] = [ann for ann in data["annotations"] if ann["id"] not in dropped]
        shown = ", ".join(str(i) for i in invalid[:10]) + (" ..." if len(invalid) > 10 else "")
        warnings.warn(
            f"{path}: left out {len(invalid)} annotation(s) with a zero/negative-size or outside-image box "
            f"(invalid_boxes='skip'): ids {shown}",
            stacklevel=2,
        )
    return data


def _unique_ids(records: Sequence[Mapping[str, Any]], kind: str, path: Path) -> None:
    seen: set[int] = set()
    for position, record in enumerate(records):
        if "id" not in record or not isinstance(record["id"], int) or isinstance(record["id"], bool):
            raise AnnotationError(path, f"{kind} #{position}", "id", f"is {record.get('id')!r}, expected an integer")
        if record["id"] in seen:
            raise AnnotationError(path, f"{kind} id {record['id']}", "id", "is duplicated; ids must be unique")
        seen.add(record["id"])


def _check_images(images: Sequence[Mapping[str, Any]], path: Path) -> None:
    for image in images:
        record = f"image id {image['id']}"
        for field in ("width", "height"):
            value = image.get(field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise AnnotationError(path, record, field, f"is {value!r}, expected a positive integer")
        if not isinstance(image.get("file_name"), str) or not image["file_name"]:
            raise AnnotationError(path, record, "file_name", f"is {image.get('file_name')!r}, expected a file name")


def check_box(box: Any, image: Mapping[str, Any], path: Path, record: str, field: str) -> None:
    """Raise unless ``box`` is ``[x, y, w, h]`` of finite numbers, ``w, h > 0``, overlapping ``image``."""
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise AnnotationError(path, record, field, f"is {box!r}, expected [x, y, w, h]")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in box):
        raise AnnotationError(path, record, field, f"is {box!r}, expected four finite numbers")
    x, y, w, h = (float(v) for v in box)
    for name, size in (("width", w), ("height", h)):
        if size <= 0:
            kind = "negative" if size < 0 else "zero"
            raise InvalidBoxError(path, record, field, f"{box!r} has {kind} {name} {size:g}; expected w > 0 and h > 0")
    overlap_w = min(x + w, image["width"]) - max(x, 0.0)
    overlap_h = min(y + h, image["height"]) - max(y, 0.0)
    if overlap_w <= 0 or overlap_h <= 0:
        raise InvalidBoxError(
            path, record, field, f"{box!r} lies outside its {image['width']}x{image['height']} image {image['id']}"
        )


def _check_annotation(
    ann: Mapping[str, Any], images: Mapping[int, Mapping[str, Any]], categories: Iterable[int], path: Path
) -> None:
    record = f"annotation id {ann['id']}"
    image = images.get(ann.get("image_id"))  # type: ignore[arg-type]
    if image is None:
        raise AnnotationError(path, record, "image_id", f"{ann.get('image_id')!r} is not an id in 'images'")
    if ann.get("category_id") not in categories:
        known = sorted(categories)
        raise AnnotationError(
            path, record, "category_id", f"{ann.get('category_id')!r} is not an id in 'categories' ({known})"
        )
    if ann.get("iscrowd", 0) not in (0, 1):
        raise AnnotationError(path, record, "iscrowd", f"is {ann.get('iscrowd')!r}, expected 0 or 1")
    check_box(ann.get("bbox"), image, path, f"{record} (image id {image['id']})", "bbox")
    clean = clean_bbox_field(ann)
    if clean is not None:
        check_box(ann[clean], image, path, f"{record} (image id {image['id']})", clean)


def check_coco(data: Any, path: str | os.PathLike, *, invalid_boxes: InvalidBoxes = "error") -> list[int]:
    """Raise an :class:`AnnotationError` (file, record id, field, fix) at the first broken record of ``data``.

    With ``invalid_boxes="skip"`` annotations whose box has a non-positive size or lies outside its image
    (:class:`InvalidBoxError`) do not raise: their ids are returned instead (every other problem still raises).
    """
    if invalid_boxes not in ("error", "skip"):
        raise ValueError(f"invalid_boxes must be 'error' or 'skip', got {invalid_boxes!r}")
    path = Path(path)
    if not isinstance(data, dict):
        raise AnnotationError(path, "file", "(top level)", f"is a {type(data).__name__}, expected a JSON object")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise AnnotationError(path, "file", key, "is missing or not a list", "write a COCO instances file")
    _unique_ids(data["images"], "image", path)
    _unique_ids(data["categories"], "category", path)
    _unique_ids(data["annotations"], "annotation", path)
    _check_images(data["images"], path)
    images = {image["id"]: image for image in data["images"]}
    categories = {cat["id"] for cat in data["categories"]}
    invalid: list[int] = []
    for ann in data["annotations"]:
        try:
            _check_annotation(ann, images, categories, path)
        except InvalidBoxError:
            if invalid_boxes == "error":
                raise
            invalid.append(ann["id"])
    return invalid


def check_image_files(images: Iterable[Mapping[str, Any]], image_dir: Path, ann_file: Path) -> None:
    """FileNotFoundError naming the first image listed in ``ann_file`` whose file is missing from ``image_dir``."""
    for image in images:
        if not (image_dir / image["file_name"]).is_file():
            raise FileNotFoundError(
                f"{ann_file}: image id {image['id']}: field 'file_name' {image['file_name']!r} is missing from "
                f"{image_dir}; restore the file or remove the image and its annotations from the annotation file"
            )

"""Box quality between COCO files: boxes of an instances file or a result list against a clean instances file."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from vislite_detection.quality.matching import box_quality


def _xyxy(records: Iterable[Mapping[str, Any]]) -> np.ndarray:
    xywh = np.array([record["bbox"] for record in records], dtype=np.float64).reshape(-1, 4)  # [N, 4]
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)  # [N, 4] XYXY


def boxes_by_image(coco: Mapping[str, Any] | list[Mapping[str, Any]], *, min_score: float = 0.0) -> dict:
    """``{image_id: (N, 4) XYXY}`` of the non-crowd boxes of an instances dict, or of a result list's detections
    scoring at least ``min_score``."""
    if isinstance(coco, list):
        records = [r for r in coco if float(r.get("score", 1.0)) >= min_score]
    else:
        records = [ann for ann in coco["annotations"] if not ann.get("iscrowd", 0)]
    grouped: dict[int, list[Mapping[str, Any]]] = {}
    for record in records:
        grouped.setdefault(int(record["image_id"]), []).append(record)
    return {image_id: _xyxy(group) for image_id, group in grouped.items()}


def coco_box_quality(
    boxes: Mapping[str, Any] | list[Mapping[str, Any]], clean: Mapping[str, Any], *, min_score: float = 0.0
) -> dict[str, float]:
    """:func:`box_quality` of ``boxes`` (an instances dict or a result list) against the clean instances
    ``clean``, image by image over every image of either."""
    noisy_by_image = boxes_by_image(boxes, min_score=min_score)
    clean_by_image = boxes_by_image(clean)
    image_ids = sorted(set(noisy_by_image) | set(clean_by_image))
    empty = np.zeros((0, 4))
    return box_quality(
        [noisy_by_image.get(i, empty) for i in image_ids], [clean_by_image.get(i, empty) for i in image_ids]
    )

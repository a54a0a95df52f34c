"""Synthetic location noise on COCO boxes (NDet's protocol): Gaussian jitter of each corner, redrawn until valid.

For a box (x1, y1, x2, y2) of width w and height h: x1' = x1 + e1*gamma*w, y1' = y1 + e2*gamma*h,
x2' = x2 + e3*gamma*w, y2' = y2 + e4*gamma*h with independent standard normal e; corners are rounded to two
decimals and a draw is kept only when the box overlaps its image and w', h' >= 1 (otherwise all four are redrawn).
As in NDet's ``tools/add_noise.py``, boxes that are not valid to begin with (w < 1, h < 1, area <= 0, outside the
image) are copied unchanged, and ``area`` keeps the clean value.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from vislite_detection.data.annotations import CLEAN_BBOX
from vislite_detection.noise.selection import select_boxes

MAX_DRAWS = 10_000
MIN_SIZE = 1.0


def jitter_boxes(
    boxes: np.ndarray, image_sizes: np.ndarray, *, gamma: float, rng: np.random.Generator, max_draws: int = MAX_DRAWS
) -> np.ndarray:
    """Noisy copies of XYXY ``boxes`` (N, 4), each in an image of ``image_sizes`` (N, 2) = (width, height).

    Raises RuntimeError naming the box index when a box has no valid draw after ``max_draws`` tries.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)  # [N, 4] XYXY
    sizes = np.asarray(image_sizes, dtype=np.float64).reshape(-1, 2)  # [N, 2] (W, H)
    wh = boxes[:, 2:] - boxes[:, :2]  # [N, 2]
    std = np.concatenate([wh, wh], axis=1) * gamma  # [N, 4]: gamma*w, gamma*h, gamma*w, gamma*h
    out = boxes.copy()
    pending = np.arange(len(boxes))
    for _ in range(max_draws):
        if pending.size == 0:
            return out
        draw = np.round(boxes[pending] + rng.standard_normal((pending.size, 4)) * std[pending], 2)  # [P, 4]
        width, height = draw[:, 2] - draw[:, 0], draw[:, 3] - draw[:, 1]
        image_w, image_h = sizes[pending, 0], sizes[pending, 1]
        overlaps = (draw[:, 0] < image_w) & (draw[:, 2] > 0) & (draw[:, 1] < image_h) & (draw[:, 3] > 0)
        valid = (width >= MIN_SIZE) & (height >= MIN_SIZE) & overlaps
        out[pending[valid]] = draw[valid]
        pending = pending[~valid]
    if pending.size:
        raise RuntimeError(f"box {int(pending[0])} has no valid noisy draw after {max_draws} tries")
    return out


def add_box_noise(coco: dict[str, Any], *, gamma: float, seed: int, strict: bool = False) -> dict[str, Any]:
    """A noisy copy of the COCO instances dict ``coco`` (the input is not modified).

    Every valid non-crowd box gets corner noise with standard deviation ``gamma``*w (x) and ``gamma``*h (y),
    redrawn until the box overlaps its image and w, h >= 1 (see the module docstring). Crowd regions and invalid
    boxes (see :func:`~vislite_detection.noise.selection.select_boxes`) are copied unchanged, or, with
    ``strict``, an invalid non-crowd box raises ValueError naming its annotation id. Every annotation keeps its
    clean box in ``clean_bbox``; ``area`` stays the clean value (NDet's files); masks are not touched.
    Deterministic in ``seed``; ``info.box_noise`` records gamma, seed and the counts (``noised``,
    ``copied_crowd``, ``copied_invalid``).
    """
    if not gamma >= 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    out = copy.deepcopy(coco)
    selection = select_boxes(out)
    if strict and selection.invalid:
        first = next(ann for ann in out["annotations"] if ann["id"] == selection.invalid[0])
        raise ValueError(
            f"annotation id {first['id']}: bbox {first.get('bbox')!r} (area {first.get('area')!r}) is not a valid box "
            f"(w, h >= 1, area > 0, overlapping its image); {len(selection.invalid)} such box(es) in all"
        )
    anns = [ann for ann in out.get("annotations", []) if ann["id"] in selection.noised]
    sizes = {image["id"]: (image["width"], image["height"]) for image in out.get("images", [])}
    xywh = np.array([ann["bbox"] for ann in anns], dtype=np.float64).reshape(-1, 4)  # [N, 4]
    xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)  # [N, 4]
    image_sizes = np.array([sizes[ann["image_id"]] for ann in anns], dtype=np.float64).reshape(-1, 2)
    noisy = jitter_boxes(xyxy, image_sizes, gamma=float(gamma), rng=np.random.default_rng(int(seed)))
    for ann, box in zip(anns, noisy.tolist()):
        ann[CLEAN_BBOX] = list(ann["bbox"])
        ann["bbox"] = [box[0], box[1], round(box[2] - box[0], 2), round(box[3] - box[1], 2)]
    for ann in out.get("annotations", []):
        if CLEAN_BBOX not in ann and "bbox" in ann:
            ann[CLEAN_BBOX] = list(ann["bbox"])
    info = out.setdefault("info", {})
    if isinstance(info, dict):
        info["box_noise"] = {
            "gamma": float(gamma),
            "seed": int(seed),
            "model": "corner gaussian, std gamma*w/h",
            "noised": len(selection.noised),
            "copied_crowd": len(selection.crowd),
            "copied_invalid": len(selection.invalid),
        }
    return out

"""Crops around a target and the box arithmetic between frame and crop (OSTrack ``processing_utils``).

A crop of side ``ceil(sqrt(w*h) * factor)`` centred on the box is cut from the frame (zero padding where it leaves
the frame), then resized to ``output_size`` with bilinear interpolation. Training jitters the box first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch


@dataclass(frozen=True)
class Crop:
    """A square crop: the patch, its scale (output px per frame px) and its padding mask (True = padding)."""

    image: np.ndarray  # (S, S, 3) uint8
    resize_factor: float
    padding: np.ndarray  # (S, S) bool


def crop_side(box: np.ndarray | torch.Tensor, factor: float) -> int:
    """``ceil(sqrt(w*h) * factor)``: the crop's side in frame pixels."""
    return math.ceil(math.sqrt(float(box[2]) * float(box[3])) * factor)


def sample_target(image: np.ndarray, box: np.ndarray | list[float], factor: float, output_size: int) -> Crop:
    """Cut the square around ``box`` (x, y, w, h) of side :func:`crop_side` from ``image`` (H, W, 3), zero padded,
    and resize it to ``output_size`` (OpenCV bilinear). Raises ``ValueError`` for a box of side < 1 px."""
    x, y, w, h = (float(v) for v in box)
    side = crop_side((x, y, w, h), factor)
    if side < 1:
        raise ValueError(f"box {list(box)} is too small to crop (crop side {side} px)")
    x1 = round(x + 0.5 * w - side * 0.5)
    y1 = round(y + 0.5 * h - side * 0.5)
    x2, y2 = x1 + side, y1 + side
    height, width = image.shape[:2]
    x1_pad, y1_pad = max(0, -x1), max(0, -y1)
    x2_pad, y2_pad = max(x2 - width + 1, 0), max(y2 - height + 1, 0)  # as the reference: one column less kept
    patch = image[y1 + y1_pad : y2 - y2_pad, x1 + x1_pad : x2 - x2_pad]
    padded = cv2.copyMakeBorder(patch, y1_pad, y2_pad, x1_pad, x2_pad, cv2.BORDER_CONSTANT)
    mask = np.ones(padded.shape[:2], dtype=np.uint8)
    mask[y1_pad : mask.shape[0] - y2_pad, x1_pad : mask.shape[1] - x2_pad] = 0
    resize_factor = output_size / side
    resized = cv2.resize(padded, (output_size, output_size))
    mask = cv2.resize(mask, (output_size, output_size), interpolation=cv2.INTER_NEAREST).astype(bool)
    return Crop(resized, resize_factor, mask)


def box_to_crop(box: np.ndarray, crop_box: np.ndarray, resize_factor: float, crop_size: int) -> np.ndarray:
    """A frame box (x, y, w, h) in the coordinates of the crop cut around ``crop_box``, normalised by
    ``crop_size`` (OSTrack ``transform_image_to_crop``: the crop centre sits at ``(crop_size - 1) / 2``)."""
    box, crop_box = np.asarray(box, dtype=np.float64), np.asarray(crop_box, dtype=np.float64)
    centre = (crop_size - 1) / 2 + (box[:2] + 0.5 * box[2:] - crop_box[:2] - 0.5 * crop_box[2:]) * resize_factor
    wh = box[2:] * resize_factor
    return np.concatenate([centre - 0.5 * wh, wh]) / crop_size


def crop_box_to_frame(
    pred_cxcywh: np.ndarray, prev_box: np.ndarray, resize_factor: float, crop_size: int
) -> np.ndarray:
    """The tracker's map back (OSTrack ``map_box_back``): a predicted (cx, cy, w, h) in crop pixels, for the crop
    cut around ``prev_box``, as a frame box (x, y, w, h). The crop centre is ``0.5 * crop_size``."""
    cx, cy, w, h = (float(v) / resize_factor for v in pred_cxcywh)
    half = 0.5 * crop_size / resize_factor
    cx += prev_box[0] + 0.5 * prev_box[2] - half
    cy += prev_box[1] + 0.5 * prev_box[3] - half
    return np.array([cx - 0.5 * w, cy - 0.5 * h, w, h])


def frame_box_to_crop(box: np.ndarray, prev_box: np.ndarray, resize_factor: float, crop_size: int) -> np.ndarray:
    """Inverse of :func:`crop_box_to_frame`: a frame box (x, y, w, h) as (cx, cy, w, h) in crop pixels."""
    box, prev_box = np.asarray(box, dtype=np.float64), np.asarray(prev_box, dtype=np.float64)
    half = 0.5 * crop_size / resize_factor
    centre = box[:2] + 0.5 * box[2:] - (prev_box[:2] + 0.5 * prev_box[2:] - half)
    return np.concatenate([centre, box[2:]]) * resize_factor


def clip_box(box: np.ndarray, height: int, width: int, margin: float = 0.0) -> np.ndarray:
    """OSTrack's ``clip_box``: keep a box (x, y, w, h) inside the frame, at least ``margin`` px wide and high."""
    x1, y1, w, h = (float(v) for v in box)
    x2, y2 = x1 + w, y1 + h
    x1 = min(max(0.0, x1), width - margin)
    x2 = min(max(margin, x2), width)
    y1 = min(max(0.0, y1), height - margin)
    y2 = min(max(margin, y2), height)
    return np.array([x1, y1, max(margin, x2 - x1), max(margin, y2 - y1)])


def jitter_box(box: np.ndarray, *, centre_jitter: float, scale_jitter: float, rng: np.random.Generator) -> np.ndarray:
    """OSTrack's ``_get_jittered_box``: size ``* exp(N(0,1) * scale_jitter)``, centre moved by
    ``U(-0.5, 0.5) * sqrt(jittered area) * centre_jitter`` in x and y."""
    box = np.asarray(box, dtype=np.float64)
    size = box[2:] * np.exp(rng.standard_normal(2) * scale_jitter)
    max_offset = math.sqrt(size[0] * size[1]) * centre_jitter
    centre = box[:2] + 0.5 * box[2:] + max_offset * (rng.random(2) - 0.5)
    return np.concatenate([centre - 0.5 * size, size])

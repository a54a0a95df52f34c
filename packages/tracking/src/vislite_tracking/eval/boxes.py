"""Per-frame box measures, each exactly as one toolkit computes it (boxes are (N, 4) x, y, w, h arrays).

Both toolkits put a box's centre at ``x + (w - 1) / 2``. They differ in the overlap: pytracking treats a box as
the pixels ``x .. x + w - 1`` (``calc_iou_overlap``), got10k-toolkit as the continuous rectangle ``x .. x + w``
with an ``eps`` in the union, a clip to [0, 1] and optional clipping to the image (``rect_iou``); and in the
normalised centre error (pytracking divides both centres by the ground-truth size, got10k-toolkit divides the
offset by ``max(1, size)``).
"""

from __future__ import annotations

import numpy as np


def centers(boxes: np.ndarray) -> np.ndarray:
    """(N, 2) centres ``x + (w - 1) / 2, y + (h - 1) / 2`` (the convention of all three toolkits)."""
    return boxes[:, :2] + 0.5 * (boxes[:, 2:] - 1.0)


def center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N,) Euclidean distance between the centres, in pixels."""
    return np.sqrt(((centers(pred) - centers(gt)) ** 2).sum(axis=1))


def pytracking_norm_center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N,) centre distance after dividing both centres by the ground-truth w, h (pytracking ``calc_err_center``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(((centers(pred) / gt[:, 2:] - centers(gt) / gt[:, 2:]) ** 2).sum(axis=1))


def got10k_norm_center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N,) centre offset divided by max(1, ground-truth w, h) per axis (got10k ``normalized_center_error``)."""
    offset = (centers(pred) - centers(gt)) / np.maximum(1.0, gt[:, 2:])
    return np.sqrt((offset**2).sum(axis=1))


def pytracking_iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N,) IoU over pixel grids: corners ``x`` and ``x + w - 1`` inclusive; NaN where the union is empty."""
    top_left = np.maximum(pred[:, :2], gt[:, :2])
    bottom_right = np.minimum(pred[:, :2] + pred[:, 2:] - 1.0, gt[:, :2] + gt[:, 2:] - 1.0)
    inter = np.clip(bottom_right - top_left + 1.0, 0.0, None).prod(axis=1)
    union = pred[:, 2:].prod(axis=1) + gt[:, 2:].prod(axis=1) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / union


def clip_to_image(boxes: np.ndarray, bound: tuple[float, float]) -> np.ndarray:
    """got10k-toolkit's image clipping: x to [0, W], then w to [0, W - x] (likewise y, h); a copy."""
    out = boxes.astype(np.float64, copy=True)
    width, height = bound
    out[:, 0] = np.clip(out[:, 0], 0, width)
    out[:, 1] = np.clip(out[:, 1], 0, height)
    out[:, 2] = np.clip(out[:, 2], 0, width - out[:, 0])
    out[:, 3] = np.clip(out[:, 3], 0, height - out[:, 1])
    return out


def got10k_iou(pred: np.ndarray, gt: np.ndarray, bound: tuple[float, float] | None = None) -> np.ndarray:
    """(N,) IoU of continuous rectangles, ``inter / (union + eps)`` clipped to [0, 1] (got10k ``rect_iou``)."""
    if bound is not None:
        pred, gt = clip_to_image(pred, bound), clip_to_image(gt, bound)
    top_left = np.maximum(pred[:, :2], gt[:, :2])
    bottom_right = np.minimum(pred[:, :2] + pred[:, 2:], gt[:, :2] + gt[:, 2:])
    inter = np.maximum(bottom_right - top_left, 0.0).prod(axis=1)
    union = pred[:, 2:].prod(axis=1) + gt[:, 2:].prod(axis=1) - inter
    return np.clip(inter / (union + np.finfo(float).eps), 0.0, 1.0)

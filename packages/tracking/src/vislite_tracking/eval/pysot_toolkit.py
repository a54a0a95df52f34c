"""The pysot-toolkit convention (``pysot/evaluation/ope_benchmark.py``, ``pysot/utils/statistics.py``).

No first-frame replacement. On LaSOT the frames marked absent (fully occluded or out of view) are removed
from ground truth and prediction, but the denominator stays the full length. IoU of continuous rectangles
(``x + w``) clipped to [0, 1]; frames whose ground truth has any value <= 0 (x and y included) get IoU -1.
Centres are ``x + (w - 1) / 2``; a frame whose ground-truth centre has a coordinate <= 0 gets distance -1,
which passes every precision threshold. The normalised precision divides both centres by the ground-truth
w, h (+1e-16). Success on ``arange(0, 1.05, 0.05)`` (strict >); precision and normalised precision are read at
index 20 (20 px, 0.20).
"""

from __future__ import annotations

import warnings

import numpy as np

from vislite_tracking.eval.boxes import centers
from vislite_tracking.eval.curves import Curves, EvaluationError, LengthMismatchWarning, Thresholds, threshold_index

THRESHOLDS = Thresholds(
    overlap=np.arange(0, 1.05, 0.05),
    center=np.arange(0, 51, 1).astype(np.float64),
    norm_center=np.arange(0, 51, 1) / 100,
)


def _iou(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """``overlap_ratio``: continuous rectangles, no eps, clipped to [0, 1] (NaN for an empty union)."""
    top_left = np.maximum(gt[:, :2], pred[:, :2])
    bottom_right = np.minimum(gt[:, :2] + gt[:, 2:], pred[:, :2] + pred[:, 2:])
    inter = np.maximum(0, bottom_right - top_left).prod(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (gt[:, 2:].prod(axis=1) + pred[:, 2:].prod(axis=1) - inter)
    return np.maximum(np.minimum(1, iou), 0)


def _distance_curve(gt_centers: np.ndarray, pred_centers: np.ndarray, thresholds: np.ndarray, n: int) -> np.ndarray:
    """``success_error``: distance -1 (a hit) where a ground-truth centre coordinate is <= 0."""
    dist = -np.ones(len(gt_centers))
    mask = (gt_centers > 0).sum(axis=1) == 2
    dist[mask] = np.sqrt(((gt_centers[mask] - pred_centers[mask]) ** 2).sum(axis=1))
    return (dist[:, None] <= thresholds[None, :]).sum(axis=0) / n  # [N, T] -> [T]


def sequence_curves(pred: np.ndarray, gt: np.ndarray, *, name: str, present: np.ndarray | None = None) -> Curves:
    """Per-sequence curves; ``present`` (LaSOT only) keeps the frames where the target is in view."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if len(pred) < len(gt):
        raise EvaluationError(f"sequence {name!r}: {len(pred)} predicted boxes for {len(gt)} annotated frames")
    if len(pred) > len(gt):  # longer results are cut, as for LaSOT's monkey-17 (silently in the toolkit)
        warnings.warn(
            f"sequence {name!r}: {len(pred)} predicted boxes for {len(gt)} frames; the last "
            f"{len(pred) - len(gt)} are ignored",
            LengthMismatchWarning,
            stacklevel=2,
        )
    pred = pred[: len(gt)]
    n = len(gt)
    if present is not None:
        keep = np.asarray(present, dtype=bool)
        gt, pred = gt[keep], pred[keep]
    iou = -np.ones(len(gt))
    valid = (gt > 0).sum(axis=1) == 4
    iou[valid] = _iou(gt[valid], pred[valid])
    with np.errstate(invalid="ignore"):
        success = (iou[:, None] > THRESHOLDS.overlap[None, :]).sum(axis=0) / n
    scale = gt[:, 2:4] + 1e-16
    return Curves(
        success=success,
        precision=_distance_curve(centers(gt), centers(pred), THRESHOLDS.center, n),
        norm_precision=_distance_curve(centers(gt) / scale, centers(pred) / scale, THRESHOLDS.norm_center, n),
    )


def scores(curves: Curves) -> dict[str, float]:
    """Success (mean of the curve), precision at 20 px, normalised precision at 0.20, OP50, OP75, in percent."""
    return {
        "auc": 100.0 * float(curves.success.mean()),
        "precision": 100.0 * float(curves.precision[20]),
        "norm_precision": 100.0 * float(curves.norm_precision[20]),
        "op50": 100.0 * float(curves.success[threshold_index(THRESHOLDS.overlap, 0.5)]),
        "op75": 100.0 * float(curves.success[threshold_index(THRESHOLDS.overlap, 0.75)]),
    }

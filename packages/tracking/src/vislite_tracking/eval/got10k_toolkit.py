"""The got10k-toolkit convention (``got10k/experiments/{otb,lasot,got10k}.py``, ``got10k/utils/metrics.py``).

OTB / LaSOT reports: the first predicted box is replaced by the ground truth; when the results and the ground
truth differ in length both are cut to the shorter one, with a warning (the toolkit prints "anno donnot match
boxes" and goes on); frames whose ground truth has a NaN are dropped (nothing else is: LaSOT's occlusion flags
are ignored); IoU of continuous rectangles (``x + w``, no -1) on 21 thresholds ``linspace(0, 1, 21)`` (strict >),
precision at 20 px, and the normalised precision is the *mean* of its curve over ``linspace(0, 0.5, 51)`` (an
area, not the value at 0.2).

GOT-10k report: IoU clipped to the image over frames 2..N with ``cover > 0``, concatenated over all frames of
all sequences (frame-weighted; a length mismatch is an error, as the toolkit asserts equal shapes there):
AO = mean IoU, SR50 = mean(IoU > 0.5), SR75 = mean(IoU > 0.75) (SR75 is what the evaluation server adds; the
toolkit's own val report stops at SR50).
"""

from __future__ import annotations

import warnings

import numpy as np

from vislite_tracking.eval.boxes import center_error, got10k_iou, got10k_norm_center_error
from vislite_tracking.eval.curves import (
    Curves,
    EvaluationError,
    LengthMismatchWarning,
    Thresholds,
    curves_from_errors,
    threshold_index,
)

THRESHOLDS = Thresholds(
    overlap=np.linspace(0, 1, 21),
    center=np.arange(0, 51).astype(np.float64),
    norm_center=np.linspace(0, 0.5, 51),
)


def _check_shapes(pred: np.ndarray, gt: np.ndarray, name: str) -> None:
    if pred.shape != gt.shape:
        raise EvaluationError(f"sequence {name!r}: {len(pred)} predicted boxes for {len(gt)} annotated frames")


def _truncate(pred: np.ndarray, gt: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Both cut to the shorter length, with a warning, as ExperimentOTB / ExperimentLaSOT ``report`` do."""
    if len(pred) == len(gt):
        return pred, gt
    n = min(len(pred), len(gt))
    warnings.warn(
        f"sequence {name!r}: {len(pred)} predicted boxes for {len(gt)} annotated frames; "
        f"both cut to the first {n} (got10k-toolkit convention)",
        LengthMismatchWarning,
        stacklevel=3,
    )
    return pred[:n], gt[:n]


def sequence_curves(pred: np.ndarray, gt: np.ndarray, *, name: str) -> Curves:
    """ExperimentLaSOT's (= ExperimentOTB's, where no ground truth is NaN) per-sequence curves."""
    pred = np.array(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.ndim != 2 or pred.shape[1:] != (4,) or len(pred) == 0:
        raise EvaluationError(f"sequence {name!r}: predicted boxes have shape {pred.shape}, expected (N, 4), N > 0")
    pred[0] = gt[0]
    pred, gt = _truncate(pred, gt, name)
    keep = ~np.isnan(gt).any(axis=1)
    if not keep.any():
        raise EvaluationError(f"sequence {name!r}: no frame has a ground-truth box")
    pred, gt = pred[keep], gt[keep]
    return curves_from_errors(
        got10k_iou(pred, gt), center_error(pred, gt), got10k_norm_center_error(pred, gt), THRESHOLDS, len(gt)
    )


def scores(curves: Curves) -> dict[str, float]:
    """Success score (mean of the curve), precision at 20 px, normalised precision (curve area), OP50, OP75."""
    return {
        "auc": 100.0 * float(curves.success.mean()),
        "precision": 100.0 * float(curves.precision[threshold_index(THRESHOLDS.center, 20.0)]),
        "norm_precision": 100.0 * float(curves.norm_precision.mean()),
        "op50": 100.0 * float(curves.success[threshold_index(THRESHOLDS.overlap, 0.5)]),
        "op75": 100.0 * float(curves.success[threshold_index(THRESHOLDS.overlap, 0.75)]),
    }


def got10k_frame_ious(
    pred: np.ndarray, gt: np.ndarray, *, cover: np.ndarray, frame_size: tuple[int, int], name: str
) -> np.ndarray:
    """IoUs (clipped to the W x H image) of frames 2..N whose ``cover`` > 0, as ExperimentGOT10k scores them."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    _check_shapes(pred, gt, name)
    if np.isnan(gt[1:]).any():
        raise EvaluationError(f"sequence {name!r}: ground truth withheld (GOT-10k test is scored by the server)")
    ious = got10k_iou(pred[1:], gt[1:], bound=frame_size)
    return ious[np.asarray(cover)[1:] > 0]


AO_THRESHOLDS = np.linspace(0, 1, 101)  # ExperimentGOT10k's success curve (``nbins_iou = 101``)


def ao_success_curve(ious: np.ndarray) -> np.ndarray:
    """Fraction of the given frames with IoU > t on 101 thresholds (its mean approaches AO)."""
    if ious.size == 0:
        return np.zeros(len(AO_THRESHOLDS))
    return (ious[:, None] > AO_THRESHOLDS[None, :]).mean(axis=0)  # [F, 101] -> [101]


def ao_sr(ious: np.ndarray) -> dict[str, float | None]:
    """AO, SR50 and SR75 in percent over the given frames (None when there is none)."""
    if ious.size == 0:
        return {"ao": None, "sr50": None, "sr75": None}
    return {
        "ao": 100.0 * float(ious.mean()),
        "sr50": 100.0 * float((ious > 0.5).mean()),
        "sr75": 100.0 * float((ious > 0.75).mean()),
    }

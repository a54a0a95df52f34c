"""The pytracking analysis convention (``pytracking/analysis/extract_results.py``) and OSTrack's copy of it.

Per sequence: the first predicted box is replaced by the ground truth; predicted boxes of zero width or height
take the previous box; invalid frames get IoU -1, centre error +inf and normalised error -1 (so it passes every
normalised threshold, as in the original) except on LaSOT where invisible frames get +inf. Every frame stays in
the denominator. Success counts IoU > t (strict) on 21 thresholds ``arange(0, 1.05, 0.05)``, so a perfect tracker
reaches AUC 20/21 = 95.24; precision is read at 20 px and normalised precision at 0.20.

The two copies differ in one rule, which ground-truth frames are valid (``VALIDITY``): pytracking requires all
four values x, y, w, h > 0 (a box touching the left or top border, x = 0 or y = 0, is invalid), OSTrack's
``lib/test/analysis/extract_results.py`` only w, h > 0. On LaSOT, fully occluded or out-of-view frames are invalid
in both.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from vislite_tracking.eval.boxes import center_error, pytracking_iou, pytracking_norm_center_error
from vislite_tracking.eval.curves import (
    Curves,
    EvaluationError,
    LengthMismatchWarning,
    Thresholds,
    curves_from_errors,
    threshold_index,
)

# torch.arange, as in the original: its values differ from numpy's in the last bit at 0.65 and 0.75
THRESHOLDS = Thresholds(
    overlap=torch.arange(0.0, 1.0 + 0.05, 0.05, dtype=torch.float64).numpy(),
    center=torch.arange(0, 51, dtype=torch.float64).numpy(),
    norm_center=(torch.arange(0, 51, dtype=torch.float64) / 100.0).numpy(),
)


VALIDITY: dict[str, str] = {  # rule name -> which ground-truth boxes count as valid
    "pytracking": "x, y, w, h all > 0",
    "ostrack": "w, h > 0",
}


def valid_ground_truth(gt: np.ndarray, rule: str = "pytracking") -> np.ndarray:
    """(N,) bool: frames whose (N, 4) ground truth is valid under ``rule`` ("pytracking" or "ostrack")."""
    if rule == "pytracking":
        return (gt > 0).all(axis=1)
    if rule == "ostrack":
        return (gt[:, 2:] > 0).all(axis=1)
    raise ValueError(f"unknown validity rule {rule!r}; expected one of {sorted(VALIDITY)}")


@dataclass(frozen=True)
class FrameErrors:
    """Per-frame IoU, centre error (px) and normalised centre error after the invalid-frame rules; ``valid`` mask."""

    overlap: np.ndarray
    center: np.ndarray
    norm_center: np.ndarray
    valid: np.ndarray


def _fix_length(pred: np.ndarray, n: int, dataset: str, name: str) -> np.ndarray:
    """As the original: a longer prediction is cut to the ground truth; a shorter one is an error on LaSOT and
    padded with zero boxes elsewhere (silently there, with a warning here, both ways)."""
    if len(pred) > n:  # e.g. LaSOT monkey-17: some trackers report more frames than annotated
        warnings.warn(
            f"sequence {name!r}: {len(pred)} predicted boxes for {n} frames; the last {len(pred) - n} are ignored",
            LengthMismatchWarning,
            stacklevel=3,
        )
        return pred[:n]
    if len(pred) < n:
        if dataset == "lasot":
            raise EvaluationError(f"sequence {name!r}: {len(pred)} predicted boxes for {n} annotated frames")
        warnings.warn(
            f"sequence {name!r}: {len(pred)} predicted boxes for {n} frames; padding with zero boxes",
            LengthMismatchWarning,
            stacklevel=3,
        )
        return np.concatenate([pred, np.zeros((n - len(pred), 4))])
    return pred


def frame_errors(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    dataset: str,
    name: str,
    visible: np.ndarray | None = None,
    rule: str = "pytracking",
) -> FrameErrors:
    """``calc_seq_err_robust`` on (N, 4) boxes; ``visible`` is passed for LaSOT only; ``rule``: see ``VALIDITY``."""
    pred = np.array(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if np.isnan(pred).any() or (pred[:, 2:] < 0).any():
        raise EvaluationError(f"sequence {name!r}: predicted boxes contain NaN or a negative width/height")
    if np.isnan(gt).any():
        raise EvaluationError(f"sequence {name!r}: NaN in the ground truth (not scorable, e.g. GOT-10k test)")
    for i in range(1, min(len(pred), len(gt))):
        if (pred[i, 2:] == 0).any():
            pred[i] = pred[i - 1]
    pred = _fix_length(pred, len(gt), dataset, name)
    pred[0] = gt[0]
    valid = valid_ground_truth(gt, rule)
    if visible is not None:
        valid &= np.asarray(visible, dtype=bool)
    center = center_error(pred, gt)
    norm_center = pytracking_norm_center_error(pred, gt)
    overlap = pytracking_iou(pred, gt)
    center[~valid] = np.inf
    norm_center[~valid] = -1.0
    overlap[~valid] = -1.0
    if dataset == "lasot" and visible is not None:
        norm_center[~visible] = np.inf
        center[~visible] = np.inf
    if np.isnan(overlap).any():
        raise EvaluationError(f"sequence {name!r}: NaN overlap (a predicted box without area)")
    return FrameErrors(overlap, center, norm_center, valid)


def sequence_curves(errors: FrameErrors) -> Curves:
    """Curves over all frames of the sequence (invalid ones count as failures, except the -1 normalised errors)."""
    return curves_from_errors(errors.overlap, errors.center, errors.norm_center, THRESHOLDS, len(errors.overlap))


def scores(curves: Curves) -> dict[str, float]:
    """AUC (mean of the success curve), P@20 px, normalised P@0.20, OP50 and OP75, in percent."""
    index = threshold_index(THRESHOLDS.overlap, 0.5), threshold_index(THRESHOLDS.overlap, 0.75)
    return {
        "auc": 100.0 * float(curves.success.mean()),
        "precision": 100.0 * float(curves.precision[threshold_index(THRESHOLDS.center, 20.0)]),
        "norm_precision": 100.0 * float(curves.norm_precision[threshold_index(THRESHOLDS.norm_center, 0.2)]),
        "op50": 100.0 * float(curves.success[index[0]]),
        "op75": 100.0 * float(curves.success[index[1]]),
    }

"""mIoU, aAcc and mAcc as mmsegmentation's ``IoUMetric`` defines them.

Per class, intersection, prediction area and label area are summed over the whole dataset (one confusion
matrix, accumulated by torchmetrics' ``MulticlassConfusionMatrix``, which drops ``target == ignore_index``
pixels); then ``IoU = I / U``, ``Acc = I / label area``. Classes whose union is zero (absent from both
predictions and ground truth) are NaN and skipped by the means. Values are percentages (mmseg reports
``nanmean * 100``), not rounded.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.classification import MulticlassConfusionMatrix

IGNORE_INDEX = 255
"""The label value never counted (ADE20K's class 0 becomes 255 under ``reduce_zero_label``)."""


def shift_zero_label(label: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """ADE20K's ``reduce_zero_label``: 0 -> ``ignore_index``, every other ``v`` -> ``v - 1`` (ignored stays)."""
    label = label.to(torch.int64)
    out = label - 1
    out[(label == 0) | (label == ignore_index)] = ignore_index
    return out


def metrics_from_confusion(confusion: torch.Tensor) -> dict[str, torch.Tensor]:
    """``mIoU``, ``aAcc``, ``mAcc`` (percent, scalars) and per-class ``IoU`` / ``Acc`` (percent, NaN where
    undefined) from a ``[K, K]`` confusion matrix with rows = ground truth and columns = prediction."""
    confusion = confusion.to(torch.float64)
    intersect = confusion.diagonal()  # [K]
    area_label = confusion.sum(dim=1)  # [K]
    area_pred = confusion.sum(dim=0)  # [K]
    union = area_label + area_pred - intersect
    iou = torch.where(union > 0, intersect / union.clamp(min=1), torch.nan)
    acc = torch.where(area_label > 0, intersect / area_label.clamp(min=1), torch.nan)
    total = area_label.sum()
    a_acc = intersect.sum() / total if total > 0 else torch.tensor(torch.nan, dtype=torch.float64)
    return {
        "mIoU": 100 * torch.nanmean(iou),
        "aAcc": 100 * a_acc,
        "mAcc": 100 * torch.nanmean(acc),
        "IoU": 100 * iou,
        "Acc": 100 * acc,
    }


class NoLabelledPixelsWarning(UserWarning):
    """Every ground-truth pixel was ``ignore_index``: mIoU / mAcc / aAcc are undefined (NaN), not 0."""


def warn_no_labelled_pixels(stage: str, ignore_index: int = IGNORE_INDEX) -> None:
    """Warn that ``stage``'s mIoU is NaN because no label pixel belongs to a class."""
    warnings.warn(
        f"{stage}/mIoU is NaN: every label pixel of the {stage} set equals ignore_index {ignore_index}, so there "
        f"is nothing to score; check the label maps (and reduce_zero_label for ADE20K-style labels)",
        NoLabelledPixelsWarning,
        stacklevel=2,
    )


class SegmentationMetric(Metric):
    """Dataset-level confusion matrix of label maps (synced over devices by summation); :meth:`compute` returns
    :func:`metrics_from_confusion`'s dict."""

    full_state_update = False

    def __init__(self, *, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes, self.ignore_index = int(num_classes), int(ignore_index)
        self.confusion = MulticlassConfusionMatrix(num_classes, ignore_index=ignore_index, validate_args=False)

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """Add label maps ``preds`` and ``target`` (same shape, integer class ids) to the counts."""
        if preds.shape != target.shape:
            raise ValueError(f"prediction shape {tuple(preds.shape)} differs from label shape {tuple(target.shape)}")
        preds, target = preds.to(torch.int64), target.to(torch.int64)
        bad = (preds < 0) | (preds >= self.num_classes)
        if bool(bad.any()):
            raise ValueError(f"predicted class ids must lie in [0, {self.num_classes}), got {int(preds[bad][0])}")
        bad = ((target < 0) | (target >= self.num_classes)) & (target != self.ignore_index)
        if bool(bad.any()):
            raise ValueError(
                f"label ids must lie in [0, {self.num_classes}) or equal ignore_index {self.ignore_index}, "
                f"got {int(target[bad][0])} (ADE20K-style labels need reduce_zero_label=True)"
            )
        self.confusion.update(preds.flatten(), target.flatten())

    def compute(self) -> dict[str, torch.Tensor]:
        return metrics_from_confusion(self.confusion.compute())

    def reset(self) -> None:
        super().reset()
        self.confusion.reset()


def _as_tensor(label_map: np.ndarray | torch.Tensor, what: str, index: int) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(label_map) if not isinstance(label_map, torch.Tensor) else label_map)
    if tensor.ndim != 2:
        raise ValueError(f"{what}[{index}] must be a 2-D label map [H, W], got shape {tuple(tensor.shape)}")
    return tensor


def miou(
    preds: Sequence[np.ndarray | torch.Tensor],
    gts: Sequence[np.ndarray | torch.Tensor],
    num_classes: int,
    ignore_index: int = IGNORE_INDEX,
    reduce_zero_label: bool = False,
) -> dict[str, float | list[float]]:
    """mIoU / aAcc / mAcc (percent) and per-class ``IoU`` / ``Acc`` lists over a dataset of label maps.

    ``gts`` pixels equal to ``ignore_index`` never count; with ``reduce_zero_label`` the ground truth is first
    shifted as ADE20K's loader does (0 ignored, ``v -> v - 1``). Counts are summed over all images before
    dividing (mmseg), which is not the mean of per-image IoUs.
    """
    if len(preds) != len(gts):
        raise ValueError(f"got {len(preds)} predictions but {len(gts)} label maps")
    metric = SegmentationMetric(num_classes=num_classes, ignore_index=ignore_index)
    for i, (pred, gt) in enumerate(zip(preds, gts)):
        target = _as_tensor(gt, "gts", i).to(torch.int64)
        if reduce_zero_label:
            target = shift_zero_label(target, ignore_index)
        metric.update(_as_tensor(pred, "preds", i), target)
    out = metric.compute()
    if not bool(torch.isfinite(out["mIoU"])):
        warn_no_labelled_pixels("eval", ignore_index)
    return {k: (v.tolist() if v.ndim else float(v)) for k, v in out.items()}

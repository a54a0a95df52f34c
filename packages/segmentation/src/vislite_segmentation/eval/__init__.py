"""Segmentation metrics with mmsegmentation's definitions (dataset-level IoU, aAcc, mAcc)."""

from vislite_segmentation.eval.miou import (
    IGNORE_INDEX,
    SegmentationMetric,
    metrics_from_confusion,
    miou,
    shift_zero_label,
)

__all__ = ["IGNORE_INDEX", "SegmentationMetric", "metrics_from_confusion", "miou", "shift_zero_label"]

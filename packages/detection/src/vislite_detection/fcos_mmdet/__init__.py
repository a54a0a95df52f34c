"""FCOS as mmdetection 2.8 runs it (NDet's detector): exact target, loss and post-processing functions."""

from vislite_detection.fcos_mmdet.loss import aligned_giou, centerness_target, distance2bbox, fcos_loss
from vislite_detection.fcos_mmdet.points import INF, REGRESS_RANGES, STRIDES, fcos_points
from vislite_detection.fcos_mmdet.postprocess import fcos_postprocess
from vislite_detection.fcos_mmdet.targets import fcos_targets

__all__ = [
    "INF",
    "REGRESS_RANGES",
    "STRIDES",
    "aligned_giou",
    "centerness_target",
    "distance2bbox",
    "fcos_loss",
    "fcos_points",
    "fcos_postprocess",
    "fcos_targets",
]

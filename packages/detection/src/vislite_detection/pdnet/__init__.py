"""PDNet (prediction-decoupled one-stage detection, IEEE TIP 2022) in pure PyTorch, CPU and GPU."""

from vislite_detection.pdnet.assign import assign_coarse_targets, assign_final_targets, box_level, iou_plus_one
from vislite_detection.pdnet.boxes import decode_boxes, giou_loss, keep_top_scores, ml_nms
from vislite_detection.pdnet.collect import collect_concat, collect_merge
from vislite_detection.pdnet.detector import PDNet, build_pdnet
from vislite_detection.pdnet.head import PDNetHead
from vislite_detection.pdnet.loss import PDNetLoss
from vislite_detection.pdnet.postprocess import postprocess
from vislite_detection.pdnet.transform import CaffeTransform

__all__ = [
    "CaffeTransform",
    "PDNet",
    "PDNetHead",
    "PDNetLoss",
    "assign_coarse_targets",
    "assign_final_targets",
    "box_level",
    "build_pdnet",
    "collect_concat",
    "collect_merge",
    "decode_boxes",
    "giou_loss",
    "iou_plus_one",
    "keep_top_scores",
    "ml_nms",
    "postprocess",
]

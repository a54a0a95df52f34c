"""PDNet (prediction-decoupled one-stage detection, IEEE TIP 2022) in pure PyTorch."""

from vislite_detection.pdnet.assign import assign_coarse_targets, assign_final_targets, box_level, iou_plus_one
from vislite_detection.pdnet.boxes import decode_boxes, giou_loss, keep_top_scores, ml_nms
from vislite_detection.pdnet.collect import collect_concat, collect_merge

__all__ = [
    "assign_coarse_targets",
    "assign_final_targets",
    "box_level",
    "collect_concat",
    "collect_merge",
    "decode_boxes",
    "giou_loss",
    "iou_plus_one",
    "keep_top_scores",
    "ml_nms",
]

"""NDet: training detectors on noisy boxes with teacher-student box correction (Wang et al., IEEE TIP 2022)."""

from vislite_detection.ndet.correct import correct_boxes, correct_boxes_per_gt, fusion_weights, pairwise_iou
from vislite_detection.ndet.fcos_teacher import FCOSBoxCorrector
from vislite_detection.ndet.offline import corrected_dataset_boxes
from vislite_detection.ndet.rcnn_teacher import FasterRCNNBoxCorrector
from vislite_detection.ndet.teacher import freeze, load_teacher
from vislite_detection.ndet.transform import CorrectingTransform, with_box_correction

__all__ = [
    "CorrectingTransform",
    "FCOSBoxCorrector",
    "FasterRCNNBoxCorrector",
    "correct_boxes",
    "correct_boxes_per_gt",
    "corrected_dataset_boxes",
    "freeze",
    "fusion_weights",
    "load_teacher",
    "pairwise_iou",
    "with_box_correction",
]

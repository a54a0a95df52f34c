"""COCO evaluation (faster-coco-eval) for detector outputs, with COCO result JSON export."""

from vislite_detection.eval.coco_evaluator import CocoEvaluator, as_faster_coco, evaluate_results
from vislite_detection.eval.convert import rescale_boxes, to_coco_results
from vislite_detection.eval.stats import STAT_NAMES, format_stats, stats_dict

__all__ = [
    "STAT_NAMES",
    "CocoEvaluator",
    "as_faster_coco",
    "evaluate_results",
    "format_stats",
    "rescale_boxes",
    "stats_dict",
    "to_coco_results",
]

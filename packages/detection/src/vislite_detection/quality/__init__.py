"""Box-quality study: mean IoU of noisy, corrected or predicted boxes to the clean ones, matched one-to-one."""

from vislite_detection.quality.coco import boxes_by_image, coco_box_quality
from vislite_detection.quality.matching import box_quality, match_boxes

__all__ = ["box_quality", "boxes_by_image", "coco_box_quality", "match_boxes"]

"""Lightning parts: the segmentation module and the warm-up + poly learning-rate schedule."""

from vislite_segmentation.lit.module import SegmentationModule
from vislite_segmentation.lit.schedule import WarmupPolySchedule, warmup_poly_factor

__all__ = ["SegmentationModule", "WarmupPolySchedule", "warmup_poly_factor"]

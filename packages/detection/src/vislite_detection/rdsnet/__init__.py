"""RDSNet: reciprocal object detection and instance segmentation (AAAI 2020)."""

from vislite_detection.rdsnet.assemble import assemble_masks
from vislite_detection.rdsnet.correlation import correlate
from vislite_detection.rdsnet.crop import crop_window, sanitize_coordinates
from vislite_detection.rdsnet.mask_loss import downsample_gt_masks, mask_loss
from vislite_detection.rdsnet.mbrm import mbrm_refine

__all__ = [
    "assemble_masks",
    "correlate",
    "crop_window",
    "downsample_gt_masks",
    "mask_loss",
    "mbrm_refine",
    "sanitize_coordinates",
]

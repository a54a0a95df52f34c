"""RDSNet: reciprocal object detection and instance segmentation (AAAI 2020)."""

import vislite_detection.models  # noqa: F401  (the detector registry first: it imports this package's models)
from vislite_detection.rdsnet.assemble import assemble_masks
from vislite_detection.rdsnet.correlation import correlate
from vislite_detection.rdsnet.crop import crop_window, sanitize_coordinates
from vislite_detection.rdsnet.detector import RDSNet
from vislite_detection.rdsnet.mask_loss import downsample_gt_masks, mask_loss
from vislite_detection.rdsnet.mbrm import mbrm_refine
from vislite_detection.rdsnet.models import (
    build_rdsnet,
    rdsnet_resnet50_fpn,
    rdsnet_resnet101_fpn,
    rdsnet_vit_tiny_sfp,
    test_rdsnet,
)

__all__ = [
    "RDSNet",
    "build_rdsnet",
    "rdsnet_resnet50_fpn",
    "rdsnet_resnet101_fpn",
    "rdsnet_vit_tiny_sfp",
    "test_rdsnet",
    "assemble_masks",
    "correlate",
    "crop_window",
    "downsample_gt_masks",
    "mask_loss",
    "mbrm_refine",
    "sanitize_coordinates",
]

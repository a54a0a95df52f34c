"""Detectors: torchvision's FCOS and Faster R-CNN with ResNet-50-FPN or ViT + simple-feature-pyramid backbones."""

from vislite_detection.models.faster_rcnn import (
    build_faster_rcnn,
    faster_rcnn_resnet50_fpn,
    faster_rcnn_vit_tiny_sfp,
    test_faster_rcnn,
)
from vislite_detection.models.fcos import build_fcos, fcos_resnet50_fpn, fcos_vit_tiny_sfp, test_fcos, test_fcos_vit
from vislite_detection.models.registry import create_detector, list_detectors, register_detector
from vislite_detection.models.resnet_fpn import load_resnet_weights, resnet50_fpn, tiny_resnet_fpn
from vislite_detection.models.transform import DetectionTransform
from vislite_detection.models.vit_fpn import SimpleFeaturePyramid, vit_sfp
from vislite_detection.models.vit_weights import load_vit_encoder, vit_encoder_state
from vislite_detection.models.weights import detector_state, load_detector_weights

__all__ = [
    "DetectionTransform",
    "SimpleFeaturePyramid",
    "build_faster_rcnn",
    "build_fcos",
    "create_detector",
    "detector_state",
    "faster_rcnn_resnet50_fpn",
    "faster_rcnn_vit_tiny_sfp",
    "fcos_resnet50_fpn",
    "fcos_vit_tiny_sfp",
    "list_detectors",
    "load_detector_weights",
    "load_resnet_weights",
    "load_vit_encoder",
    "register_detector",
    "resnet50_fpn",
    "test_faster_rcnn",
    "test_fcos",
    "test_fcos_vit",
    "tiny_resnet_fpn",
    "vit_encoder_state",
    "vit_sfp",
]

# The method folders' detectors register on import (create_detector("test_rdsnet") from a config).
import vislite_detection.pdnet
import vislite_detection.rdsnet.models  # noqa: F401

"""The inference tracker (OSTrack-style, one-stream ViT), its ONNX Runtime backend and its loader."""

from vislite_tracking.ostrack.tracker.folded_head import FoldedCenterHead, fold_conv_bn
from vislite_tracking.ostrack.tracker.load import BACKENDS, load_network, load_tracker
from vislite_tracking.ostrack.tracker.onnx_backend import OnnxTracker, export_onnx
from vislite_tracking.ostrack.tracker.ostrack_tracker import CropTracker, OSTracker, box_in_frame, hann2d, preprocess

__all__ = [
    "BACKENDS",
    "CropTracker",
    "FoldedCenterHead",
    "OSTracker",
    "OnnxTracker",
    "box_in_frame",
    "export_onnx",
    "fold_conv_bn",
    "hann2d",
    "load_network",
    "load_tracker",
    "preprocess",
]

"""The SiamFC++ network (video_analyst): backbones, dense box head, builder and weight loading."""

from vislite_tracking.siamfcpp.model.build import HEADS, build_siamfcpp
from vislite_tracking.siamfcpp.model.head import DenseboxHead
from vislite_tracking.siamfcpp.model.siamfcpp import SiamFCpp
from vislite_tracking.siamfcpp.model.weights import load_video_analyst_weights, map_video_analyst_keys

__all__ = [
    "HEADS",
    "DenseboxHead",
    "SiamFCpp",
    "build_siamfcpp",
    "load_video_analyst_weights",
    "map_video_analyst_keys",
]

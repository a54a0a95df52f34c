"""The one-stream ViT tracker network (OSTrack with candidate elimination) and its weight loading."""

from vislite_tracking.ostrack.model.backbone import OneStreamViT
from vislite_tracking.ostrack.model.build import build_ostrack
from vislite_tracking.ostrack.model.head import CenterHead, decode_boxes
from vislite_tracking.ostrack.model.ostrack import OSTrack
from vislite_tracking.ostrack.model.weights import load_backbone_weights, map_released_ostrack_keys, tracker_state_dict

__all__ = [
    "CenterHead",
    "OSTrack",
    "OneStreamViT",
    "build_ostrack",
    "decode_boxes",
    "load_backbone_weights",
    "map_released_ostrack_keys",
    "tracker_state_dict",
]

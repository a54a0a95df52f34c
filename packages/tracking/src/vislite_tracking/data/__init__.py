"""Tracking data: the ``Sequence`` record and readers for LaSOT, GOT-10k, OTB2015, TrackingNet and COCO static
pairs.

Names are imported on first use, so that processes which only unpickle a ``Sequence`` (OPE workers, data
loader workers) do not load every reader. COCO pairs by split: ``vislite_tracking.data.coco_pairs.coco_pairs``.
"""

from __future__ import annotations

from vislite_tracking.lazy import lazy_exports
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vislite_tracking.data.coco_pairs import CocoObject, CocoPairs
    from vislite_tracking.data.frames import read_frame
    from vislite_tracking.data.got10k import got10k_sequences, read_got10k
    from vislite_tracking.data.lasot import lasot_sequences, read_lasot
    from vislite_tracking.data.otb import FRAME_RANGES, INIT_OMIT, otb_sequences, read_otb
    from vislite_tracking.data.registry import READERS, load_sequences
    from vislite_tracking.data.sequence import Sequence
    from vislite_tracking.data.trackingnet import read_trackingnet, trackingnet_sequences

_EXPORTS: dict[str, str] = {
    "FRAME_RANGES": "otb",
    "INIT_OMIT": "otb",
    "READERS": "registry",
    "CocoObject": "coco_pairs",
    "CocoPairs": "coco_pairs",
    "Sequence": "sequence",
    "got10k_sequences": "got10k",
    "lasot_sequences": "lasot",
    "load_sequences": "registry",
    "otb_sequences": "otb",
    "read_frame": "frames",
    "read_got10k": "got10k",
    "read_lasot": "lasot",
    "read_otb": "otb",
    "read_trackingnet": "trackingnet",
    "trackingnet_sequences": "trackingnet",
}
__all__ = [
    "CocoObject",
    "CocoPairs",
    "FRAME_RANGES",
    "INIT_OMIT",
    "READERS",
    "Sequence",
    "got10k_sequences",
    "lasot_sequences",
    "load_sequences",
    "otb_sequences",
    "read_frame",
    "read_got10k",
    "read_lasot",
    "read_otb",
    "read_trackingnet",
    "trackingnet_sequences",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

"""vislite-tracking: a CPU real-time one-stream ViT-Tiny tracker, tracking datasets and an OPE evaluation toolkit.

``vislite_tracking.load_tracker(checkpoint)`` returns a tracker with ``initialize(image, box_xywh)`` and
``track(image) -> box_xywh``; ``backend="onnx"`` runs the network in ONNX Runtime (``pip install
'vislite-tracking[onnx]'``).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["load_tracker"]


def __getattr__(name: str) -> Any:
    """Import the tracker (torch, timm) only when it is asked for, so the data and eval tools start fast."""
    if name == "load_tracker":
        from vislite_tracking.ostrack.tracker.load import load_tracker

        return load_tracker
    raise AttributeError(f"module 'vislite_tracking' has no attribute {name!r}")

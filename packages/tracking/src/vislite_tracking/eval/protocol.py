"""What the OPE runner needs from a tracker, and the simplest one (a baseline that never moves)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

Box = tuple[float, float, float, float]  # x, y, w, h in pixels


@runtime_checkable
class Tracker(Protocol):
    """Single-object tracker: ``initialize`` on frame 1 with the target box, then ``track`` every later frame.

    Images are (H, W, 3) uint8 RGB arrays; boxes are x, y, w, h in pixels.
    """

    def initialize(self, image: np.ndarray, box: Box) -> None: ...

    def track(self, image: np.ndarray) -> Box: ...


class FirstFrameTracker:
    """Baseline that reports the first frame's box on every frame (the "target never moves" reference)."""

    def __init__(self) -> None:
        self._box: Box | None = None

    def initialize(self, image: np.ndarray, box: Box) -> None:
        self._box = tuple(float(v) for v in box)  # type: ignore[assignment]

    def track(self, image: np.ndarray) -> Box:
        if self._box is None:
            raise RuntimeError("FirstFrameTracker.track() called before initialize()")
        return self._box

"""One tracking sequence, whatever dataset it came from: the record readers return and samplers / runners take."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Sequence:
    """A video with one annotated target.

    ``boxes`` are x, y, w, h in pixels (1-based frame files, 0-based pixel coordinates as in the toolkits);
    ``visible`` is False where the target is fully occluded, out of view or absent (its box may then be NaN or 0).
    """

    name: str
    dataset: str  # "lasot", "got10k", "otb", "coco"
    frames: list[Path]  # N frame paths, in order
    boxes: np.ndarray  # (N, 4) float64 x, y, w, h
    visible: np.ndarray  # (N,) bool
    object_class: str | None = None
    cover: np.ndarray | None = None  # (N,) int64 0..8 GOT-10k visible-area level (0 = fully occluded), if known
    frame_size: tuple[int, int] | None = None  # (W, H) of the frames, if known (GOT-10k ``meta_info.ini``)

    def __post_init__(self) -> None:
        n = len(self.frames)
        if self.boxes.shape != (n, 4):
            raise ValueError(f"sequence {self.name!r}: boxes have shape {self.boxes.shape}, expected ({n}, 4)")
        if self.visible.shape != (n,):
            raise ValueError(f"sequence {self.name!r}: visible has shape {self.visible.shape}, expected ({n},)")
        if self.cover is not None and self.cover.shape != (n,):
            raise ValueError(f"sequence {self.name!r}: cover has shape {self.cover.shape}, expected ({n},)")

    def __len__(self) -> int:
        return len(self.frames)

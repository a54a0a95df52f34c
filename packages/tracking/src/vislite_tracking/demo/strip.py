"""A strip of frames with the true (green) and predicted (red) boxes drawn on them."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from vislite_tracking.data.frames import read_frame
from vislite_tracking.data.sequence import Sequence

TRUE_COLOUR = (0, 200, 0)  # RGB
PRED_COLOUR = (230, 30, 30)


def _draw(image: np.ndarray, box: np.ndarray, colour: tuple[int, int, int]) -> None:
    if not np.isfinite(box).all():
        return
    x, y, w, h = (int(round(v)) for v in box)
    cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), colour, 1)


def box_strip(
    sequence: Sequence, predicted: np.ndarray, out_png: str | os.PathLike, *, count: int = 6, scale: int = 2
) -> Path:
    """Save ``count`` evenly spaced frames of ``sequence`` side by side, enlarged ``scale`` times, with the ground
    truth and ``predicted`` (N, 4) boxes (x, y, w, h); returns the PNG path."""
    if len(predicted) != len(sequence):
        raise ValueError(f"{sequence.name}: {len(predicted)} predicted boxes for {len(sequence)} frames")
    panels = []
    for index in np.linspace(0, len(sequence) - 1, count).round().astype(int):
        frame = read_frame(sequence.frames[index])
        frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        _draw(frame, sequence.boxes[index] * scale, TRUE_COLOUR)
        _draw(frame, np.asarray(predicted[index], dtype=np.float64) * scale, PRED_COLOUR)
        cv2.putText(frame, f"#{index + 1}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
        panels.append(frame)
    strip = np.concatenate(panels, axis=1)
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {out}")
    return out

"""Frame decoding for trackers: an image file to an H x W x 3 uint8 RGB array (OpenCV, as the reference does)."""

from __future__ import annotations

import os

import cv2
import numpy as np


def read_frame(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB pixels of ``path``; FileNotFoundError if missing, ValueError if it cannot be decoded."""
    image = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
    if image is None:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: missing frame")
        raise ValueError(f"{path}: cannot decode the frame (expected a JPEG/PNG image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

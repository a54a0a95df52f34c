"""SiamFC++ crops (video_analyst ``get_crop``): a context-padded square around the target, resized by an affine
warp with the image's channel mean outside the frame."""

from __future__ import annotations

import math

import cv2
import numpy as np


def crop_side(target_sz: np.ndarray, context: float = 0.5) -> float:
    """Side of the template crop in frame pixels: ``sqrt((w + c(w + h)) (h + c(w + h)))``."""
    w, h = float(target_sz[0]), float(target_sz[1])
    pad = context * (w + h)
    return math.sqrt((w + pad) * (h + pad))


def subwindow(image: np.ndarray, centre: np.ndarray, out_size: int, side: float, fill: np.ndarray) -> np.ndarray:
    """The ``side`` x ``side`` frame square centred on ``centre`` (corners at c ± (side - 1) / 2) resized to
    ``out_size`` by an inverse affine warp, bilinear, constant ``fill`` outside."""
    x0 = float(centre[0]) - (side - 1) / 2
    y0 = float(centre[1]) - (side - 1) / 2
    step = (side - 1) / (out_size - 1)
    matrix = np.array([[step, 0.0, x0], [0.0, step, y0]], dtype=np.float64)
    return cv2.warpAffine(
        image,
        matrix,
        (out_size, out_size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=tuple(int(v) for v in fill),
    )


def get_crop(
    image: np.ndarray,
    centre: np.ndarray,
    target_sz: np.ndarray,
    z_size: int,
    x_size: int | None = None,
    fill: np.ndarray | None = None,
    context: float = 0.5,
) -> tuple[np.ndarray, float]:
    """``(crop, scale)``: the template-scaled crop (``x_size`` px, default ``z_size``) and crop px per frame px."""
    fill = image.mean(axis=(0, 1)) if fill is None else fill
    scale = z_size / crop_side(target_sz, context)
    size = z_size if x_size is None else x_size
    return subwindow(image, centre, size, size / scale, fill), scale

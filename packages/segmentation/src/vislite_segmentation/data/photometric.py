"""mmseg's ``PhotoMetricDistortion`` on uint8 RGB arrays: brightness, contrast (before or after), saturation and
hue in HSV (OpenCV's 0-180 hue), each applied with probability 1/2; random numbers come from torch's generator."""

from __future__ import annotations

import cv2
import numpy as np
import torch


def _uniform(low: float, high: float) -> float:
    return float(torch.empty(()).uniform_(low, high))


def _coin() -> bool:
    return bool(torch.randint(0, 2, ()).item())


def _convert(values: np.ndarray, alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
    """``values * alpha + beta`` clipped to [0, 255], back to uint8."""
    return np.clip(values.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)


class PhotoMetricDistortion:
    """Apply to an ``[H, W, 3]`` uint8 RGB image; returns a new uint8 image."""

    def __init__(
        self,
        *,
        brightness_delta: int = 32,
        contrast_range: tuple[float, float] = (0.5, 1.5),
        saturation_range: tuple[float, float] = (0.5, 1.5),
        hue_delta: int = 18,
    ) -> None:
        self.brightness_delta = brightness_delta
        self.contrast_range = tuple(contrast_range)
        self.saturation_range = tuple(saturation_range)
        self.hue_delta = hue_delta

    def _contrast(self, image: np.ndarray) -> np.ndarray:
        return _convert(image, alpha=_uniform(*self.contrast_range)) if _coin() else image

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if _coin():
            image = _convert(image, beta=_uniform(-self.brightness_delta, self.brightness_delta))
        contrast_first = _coin()
        if contrast_first:
            image = self._contrast(image)
        if _coin():
            hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
            hsv[:, :, 1] = _convert(hsv[:, :, 1], alpha=_uniform(*self.saturation_range))
            image = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        if _coin():
            hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
            shift = int(torch.randint(-self.hue_delta, self.hue_delta, ()).item())
            hsv[:, :, 0] = ((hsv[:, :, 0].astype(np.int32) + shift) % 180).astype(np.uint8)
            image = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        if not contrast_first:
            image = self._contrast(image)
        return image

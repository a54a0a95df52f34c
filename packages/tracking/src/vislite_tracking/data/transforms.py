"""Photometric and flip augmentation of the training pairs (OSTrack's ``transform_joint`` / ``transform_train``)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) uint8 -> its grey level repeated in three channels."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return np.repeat(grey[..., None], 3, axis=2)


def hflip_image(image: np.ndarray) -> np.ndarray:
    """Mirror an (H, W, ...) array left-right."""
    return np.ascontiguousarray(image[:, ::-1])


def hflip_box(box: np.ndarray, width: float) -> np.ndarray:
    """Mirror a pixel box (x, y, w, h) in a frame of ``width`` columns."""
    x, y, w, h = box
    return np.array([width - x - w, y, w, h])


def hflip_normalised_box(box: np.ndarray) -> np.ndarray:
    """Mirror a box (x, y, w, h) normalised to [0, 1]."""
    x, y, w, h = box
    return np.array([1.0 - x - w, y, w, h])


def normalise(image: np.ndarray, brightness: float = 1.0) -> torch.Tensor:
    """(H, W, 3) uint8 -> ``[3, H, W]`` float: ``clamp(x * brightness / 255, 0, 1)``, then ImageNet mean / std."""
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()  # [3, H, W]
    tensor = (tensor * (brightness / 255.0)).clamp(0.0, 1.0)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (tensor - mean) / std


class PairAugmentation:
    """The reference's augmentation of a (template, search) pair.

    Joint (same draw for both frames): grayscale with ``grayscale_prob``, horizontal flip with ``flip_prob``.
    Per crop: brightness factor ``U(1 - brightness, 1 + brightness)``, a further flip with ``crop_flip_prob``
    (on normalised boxes), then ImageNet normalisation. Validation pairs use ``joint_only()``.
    """

    def __init__(
        self,
        *,
        grayscale_prob: float = 0.05,
        flip_prob: float = 0.5,
        brightness: float = 0.2,
        crop_flip_prob: float = 0.5,
    ) -> None:
        self.grayscale_prob, self.flip_prob = grayscale_prob, flip_prob
        self.brightness, self.crop_flip_prob = brightness, crop_flip_prob

    def joint_only(self) -> PairAugmentation:
        """The joint grayscale / flip alone, as OSTrack's validation pairs (``transform_joint``, then only
        ToTensor and Normalize per crop: no brightness, no per-crop flip)."""
        return PairAugmentation(
            grayscale_prob=self.grayscale_prob, flip_prob=self.flip_prob, brightness=0.0, crop_flip_prob=0.0
        )

    def joint(
        self, frames: list[np.ndarray], boxes: list[np.ndarray], rng: np.random.Generator
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Grayscale / flip applied identically to every frame (and box)."""
        if rng.random() < self.grayscale_prob:
            frames = [to_grayscale(f) for f in frames]
        if rng.random() < self.flip_prob:
            boxes = [hflip_box(b, f.shape[1]) for f, b in zip(frames, boxes)]
            frames = [hflip_image(f) for f in frames]
        return frames, boxes

    def crop(self, image: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, np.ndarray]:
        """Brightness, flip and normalisation of one crop and its normalised box."""
        factor = rng.uniform(max(0.0, 1.0 - self.brightness), 1.0 + self.brightness)
        if rng.random() < self.crop_flip_prob:
            image, box = hflip_image(image), hflip_normalised_box(box)
        return normalise(image, factor), box

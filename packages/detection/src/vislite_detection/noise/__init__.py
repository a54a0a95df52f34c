"""Synthetic noisy location annotations for COCO files (NDet's corner-noise protocol)."""

from vislite_detection.noise.box_noise import add_box_noise, jitter_boxes

__all__ = ["add_box_noise", "jitter_boxes"]

"""Synthetic noisy location annotations for COCO files (NDet's corner-noise protocol)."""

from vislite_detection.noise.box_noise import add_box_noise, jitter_boxes
from vislite_detection.noise.selection import NoiseSelection, is_valid_box, select_boxes

__all__ = ["NoiseSelection", "add_box_noise", "is_valid_box", "jitter_boxes", "select_boxes"]

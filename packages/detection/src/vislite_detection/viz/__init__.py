"""Detection visualisations as PNG."""

from vislite_detection.viz.draw import draw_detections, to_uint8_image

__all__ = ["draw_detections", "to_uint8_image"]

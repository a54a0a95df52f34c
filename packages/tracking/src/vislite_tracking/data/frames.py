"""Frame decoding for trackers: an image file to an H x W x 3 uint8 RGB array.

Frames go through vislite's image policy (:mod:`vislite_common.data.image_policy`, no torch import): PIL's
libjpeg-turbo decoder gives the same pixels as OpenCV's ``imread`` (the reference's reader) on baseline and
progressive JPEGs, but refuses corrupt or truncated files where ``imread`` returns a partly grey frame with only
a libjpeg line on stderr; the pixel limit and the 16-bit rule are the training loaders'. Unlike ``imread``, an
EXIF orientation tag is not applied (as torchvision's and PIL's decoders in the training loaders); benchmark frames
carry none.
"""

from __future__ import annotations

import os

import numpy as np

from vislite_common.data.image_policy import ImageDecodeError, read_rgb_array

MIN_FRAME_SIDE = 2
"""Frames narrower or shorter than this cannot be cropped around a target (OpenCV's border padding fails)."""


def read_frame(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB pixels of ``path``; FileNotFoundError if missing, ValueError naming the file if it
    cannot be decoded (corrupt, truncated, above the pixel limit) or is smaller than 2 x 2 pixels."""
    try:
        image = read_rgb_array(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing frame") from None
    except ImageDecodeError as error:
        raise ValueError(f"{path}: cannot decode the frame (expected a JPEG/PNG image): {error}") from None
    height, width = image.shape[:2]
    if min(height, width) < MIN_FRAME_SIDE:
        raise ValueError(f"{path}: frame is {width}x{height} pixels; trackers need at least 2x2")
    return image

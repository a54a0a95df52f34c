"""Colour overlays: colours where labelled, the image where ignored, PNGs that read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vislite_segmentation.vis import colorize, overlay, palette, save_comparison


def test_palette_is_distinct_and_sized() -> None:
    colours = palette(150)
    assert colours.shape == (150, 3) and colours.dtype == np.uint8
    assert len({tuple(c) for c in palette(12)}) == 12


def test_overlay_blends_labelled_pixels_only() -> None:
    image = np.full((4, 4, 3), 100, np.uint8)
    label = np.full((4, 4), 255)
    label[0, 0] = 1
    colours = palette(3)
    out = overlay(image, label, colours, alpha=1.0)
    assert tuple(out[0, 0]) == tuple(colours[1])
    assert (out[1:] == 100).all()
    assert (colorize(label, colours)[1:] == 0).all()


def test_comparison_png_reads_back(tmp_path: Path) -> None:
    image = np.zeros((3, 8, 10), np.uint8)  # [3, H, W] is accepted too
    label = np.zeros((8, 10), np.int64)
    strip = save_comparison(tmp_path / "x.png", image, [label, label], palette(2), gap=2)
    assert strip.shape == (8, 3 * 10 + 2 * 2, 3)
    assert np.array_equal(np.array(Image.open(tmp_path / "x.png")), strip)


def test_overlay_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="differs from label size"):
        overlay(np.zeros((4, 4, 3), np.uint8), np.zeros((3, 4)), palette(2))
    with pytest.raises(ValueError, match="has no colour"):
        colorize(np.full((2, 2), 5), palette(2))

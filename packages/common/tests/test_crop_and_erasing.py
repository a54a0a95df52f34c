"""MAE's single-draw linear-probe crop and random erasing's ``pixel`` fill (MAE-Lite's ``remode``)."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image
from timm.data.random_erasing import RandomErasing

from vislite_common.data.single_draw_crop import SingleDrawResizedCrop, single_draw_box
from vislite_common.data.transforms import build_classification_transform


def test_single_draw_box_is_one_draw_clipped_to_the_image() -> None:
    torch.manual_seed(0)
    boxes = [single_draw_box(60, 80, (0.08, 1.0), (3 / 4, 4 / 3)) for _ in range(2000)]
    for top, left, h, w in boxes:
        assert 0 <= top <= 60 - h and 0 <= left <= 80 - w and 1 <= h <= 60 and 1 <= w <= 80
    # a draw larger than the image is clipped, never redrawn: full-height / full-width boxes are frequent
    clipped = sum(h == 60 or w == 80 for _, _, h, w in boxes)
    assert clipped > 100
    # the same RNG stream gives the hand-computed box of the first draw
    torch.manual_seed(1)
    area = 60 * 80 * torch.empty(1).uniform_(0.08, 1.0).item()
    log_r = torch.log(torch.tensor((3 / 4, 4 / 3)))
    aspect = torch.exp(torch.empty(1).uniform_(log_r[0], log_r[1])).item()
    w, h = min(round(math.sqrt(area * aspect)), 80), min(round(math.sqrt(area / aspect)), 60)
    top = torch.randint(0, 60 - h + 1, size=(1,)).item()
    left = torch.randint(0, 80 - w + 1, size=(1,)).item()
    torch.manual_seed(1)
    assert single_draw_box(60, 80, (0.08, 1.0), (3 / 4, 4 / 3)) == (top, left, h, w)


def test_probe_transform_uses_the_single_draw_crop() -> None:
    transform = build_classification_transform(input_size=32, is_training=True, crop="single_draw")
    assert isinstance(transform.transform.transforms[0], SingleDrawResizedCrop)
    image = torch.randint(0, 256, (3, 50, 70), dtype=torch.uint8)
    assert transform(image).shape == (3, 32, 32)
    crop = SingleDrawResizedCrop(16)
    torch.manual_seed(2)
    whole = crop(torch.arange(3 * 40 * 40, dtype=torch.float32).reshape(3, 40, 40))
    assert whole.shape == (3, 16, 16)
    with pytest.raises(ValueError, match="crop must be one of"):
        build_classification_transform(input_size=32, is_training=True, crop="tf")


def _erasing(**kwargs) -> RandomErasing:
    transform = build_classification_transform(input_size=32, is_training=True, re_prob=0.25, **kwargs)
    return next(t for t in transform.transform.transforms if isinstance(t, RandomErasing))


def test_random_erasing_fills_with_pixel_noise_by_default() -> None:
    assert _erasing().mode == "pixel"  # MAE-Lite / MAE / DeiT remode
    assert _erasing(re_mode="const").mode == "const"
    transform = build_classification_transform(input_size=32, is_training=True, re_prob=1.0)
    torch.manual_seed(0)
    out = transform(Image.new("RGB", (32, 32), (128, 128, 128)))
    flat = (out - out[:, :1, :1]).abs().sum(0)  # a grey image: erased pixels differ from pixel to pixel
    assert out.shape == (3, 32, 32) and torch.unique(flat).numel() > 50
    with pytest.raises(ValueError, match="re_mode"):
        build_classification_transform(input_size=32, is_training=True, re_prob=0.25, re_mode="noise")

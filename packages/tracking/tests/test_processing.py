"""Crops, the box arithmetic between frame and crop, clipping and jitter."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vislite_tracking.data.processing import (
    box_to_crop,
    clip_box,
    crop_box_to_frame,
    crop_side,
    frame_box_to_crop,
    jitter_box,
    sample_target,
)
from vislite_tracking.ostrack.tracker import ostrack_tracker


def test_crop_and_map_back_is_the_identity_on_boxes() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        prev = np.concatenate([rng.uniform(-50, 500, 2), rng.uniform(5, 200, 2)])
        box = np.concatenate([rng.uniform(-50, 500, 2), rng.uniform(1, 200, 2)])
        factor, size = rng.choice([2.0, 4.0, 5.0]), int(rng.choice([64, 128, 256]))
        resize = size / crop_side(prev, factor)
        in_crop = frame_box_to_crop(box, prev, resize, size)
        np.testing.assert_allclose(crop_box_to_frame(in_crop, prev, resize, size), box, atol=1e-9)


def _locate(crop: np.ndarray) -> np.ndarray:
    """(cx, cy, w, h) of a white marker on black in crop pixels (pixel i spans [i, i + 1)), from its intensity."""
    mass = crop[..., 0].astype(np.float64) / 255.0  # [S, S], bilinear edges are partial
    ys, xs = np.indices(mass.shape)
    cx, cy = (xs * mass).sum() / mass.sum() + 0.5, (ys * mass).sum() / mass.sum() + 0.5
    return np.array([cx, cy, mass[int(cy)].sum(), mass[:, int(cx)].sum()])  # widths through the centre


def test_marker_found_in_the_crop_pixels_maps_back_to_its_frame_box() -> None:
    """The tracker's own crop (``sample_target``) and map back (``crop_box_to_frame``) agree with the pixels."""
    rng = np.random.default_rng(1)
    for _ in range(40):
        frame = np.zeros((360, 480, 3), dtype=np.uint8)
        w, h = rng.integers(12, 70, 2)
        x, y = rng.integers(20, 480 - w - 20), rng.integers(20, 360 - h - 20)
        frame[y : y + h, x : x + w] = 255  # the marker covers pixels x .. x + w - 1: the box (x, y, w, h)
        box = np.array([x, y, w, h], dtype=np.float64)
        prev = box + np.concatenate([rng.uniform(-0.4, 0.4, 2) * box[2:], np.zeros(2)])  # off-centre, as in tracking
        prev[2:] *= rng.uniform(0.6, 1.6, 2)  # smaller or larger previous box: crop scaled up or down
        size = 256
        crop = ostrack_tracker.sample_target(frame, prev, 4.0, size)
        assert not crop.padding[crop.image[..., 0] > 0].any()  # the marker is inside the frame part of the crop
        found = _locate(crop.image)
        back = ostrack_tracker.crop_box_to_frame(found, prev, crop.resize_factor, size)
        np.testing.assert_allclose(back, box, atol=0.6)  # the crop origin is rounded to whole pixels: <= 0.5 px


def test_target_at_the_crop_centre() -> None:
    prev = np.array([100.0, 50.0, 40.0, 10.0])
    resize = 256 / crop_side(prev, 4.0)
    cx, cy, w, h = frame_box_to_crop(prev, prev, resize, 256)
    assert (cx, cy) == (128.0, 128.0) and w == pytest.approx(40 * resize) and h == pytest.approx(10 * resize)
    assert crop_side(prev, 4.0) == math.ceil(math.sqrt(400) * 4)


def test_crop_pixels_hold_the_box() -> None:
    image = np.zeros((200, 300, 3), dtype=np.uint8)
    box = np.array([120.0, 80.0, 40.0, 20.0])
    image[80:100, 120:160] = 255
    crop = sample_target(image, box, 2.0, 128)
    x, y, w, h = box_to_crop(box, box, crop.resize_factor, 128) * 128
    assert crop.resize_factor == pytest.approx(128 / math.ceil(math.sqrt(800) * 2))
    inside = crop.image[int(y) + 2 : int(y + h) - 2, int(x) + 2 : int(x + w) - 2]
    assert inside.min() == 255  # the white box lands where the crop box says
    assert crop.image[: int(y) - 2].max() == 0 and not crop.padding.any()


def test_crop_outside_the_frame_is_zero_padded() -> None:
    image = np.full((100, 100, 3), 200, dtype=np.uint8)
    crop = sample_target(image, [0.0, 0.0, 20.0, 20.0], 4.0, 80)  # crop side 80, centred on (10, 10)
    assert crop.resize_factor == 1.0
    assert crop.padding[:30, :30].all() and not crop.padding[40:, 40:].any()
    assert crop.image[:30, :30].max() == 0 and crop.image[40:, 40:].min() == 200
    with pytest.raises(ValueError, match="too small"):
        sample_target(image, [0.0, 0.0, 0.0, 0.0], 4.0, 80)


def test_box_to_crop_centres_the_crop_box() -> None:
    box = np.array([10.0, 20.0, 30.0, 40.0])
    out = box_to_crop(box, box, 2.0, 256)
    centre = (out[:2] + out[2:] / 2) * 256
    np.testing.assert_allclose(centre, [127.5, 127.5])  # (crop_size - 1) / 2, as the training crops
    np.testing.assert_allclose(out[2:] * 256, [60.0, 80.0])


def test_clip_box_keeps_the_margin() -> None:
    np.testing.assert_allclose(clip_box(np.array([-5.0, 10.0, 30.0, 20.0]), 100, 200, margin=10), [0, 10, 25, 20])
    np.testing.assert_allclose(clip_box(np.array([195.0, 95.0, 30.0, 30.0]), 100, 200, margin=10), [190, 90, 10, 10])
    np.testing.assert_allclose(clip_box(np.array([50.0, 50.0, 2.0, 3.0]), 100, 200, margin=10), [50, 50, 10, 10])


def test_jitter_box_statistics() -> None:
    box = np.array([100.0, 100.0, 40.0, 40.0])
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(jitter_box(box, centre_jitter=0, scale_jitter=0, rng=rng), box)
    jittered = np.stack([jitter_box(box, centre_jitter=3, scale_jitter=0.25, rng=rng) for _ in range(4000)])
    log_scale = np.log(jittered[:, 2] / 40)
    assert abs(log_scale.mean()) < 0.02 and abs(log_scale.std() - 0.25) < 0.02
    offset = (jittered[:, :2] + jittered[:, 2:] / 2 - 120) / np.sqrt(jittered[:, 2:3] * jittered[:, 3:4])
    assert np.abs(offset).max() <= 1.5 and np.abs(offset).max() > 1.4  # U(-0.5, 0.5) x 3

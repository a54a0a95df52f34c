"""Sliding-window inference: mmseg's window grid, equality with whole-image inference, batching, flips."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vislite_segmentation.inference import Inferencer, slide_inference, whole_inference, window_starts, windows


def test_window_grid_follows_mmseg() -> None:
    assert window_starts(512, 512, 341) == [0]
    assert window_starts(683, 512, 341) == [0, 171]  # (683 - 512 + 340) // 341 + 1 = 2, last ends at 683
    assert window_starts(2048, 512, 341) == [0, 341, 682, 1023, 1364, 1536]
    assert window_starts(300, 512, 341) == [0]  # shorter than the crop: one window over the whole side
    assert windows(300, 683, (512, 512), (341, 341)) == [(0, 300, 0, 512), (0, 300, 171, 683)]
    with pytest.raises(ValueError, match="crop and stride"):
        window_starts(10, 0, 1)


def test_slide_equals_whole_when_the_crop_covers_the_image(segmentor) -> None:
    images = torch.randn(2, 3, 32, 48)
    whole = whole_inference(segmentor, images, size_divisor=8)
    slide = slide_inference(segmentor, images, num_classes=11, crop=48, stride=32, size_divisor=8)
    torch.testing.assert_close(slide, whole)
    larger = slide_inference(segmentor, images, num_classes=11, crop=64, stride=40, size_divisor=8)
    torch.testing.assert_close(larger, whole)


def test_overlapping_windows_average_a_pointwise_model_exactly() -> None:
    torch.manual_seed(0)
    pointwise = nn.Conv2d(3, 5, kernel_size=1)  # no spatial context: every window agrees on every pixel
    images = torch.randn(1, 3, 70, 90)
    slide = slide_inference(pointwise, images, num_classes=5, crop=32, stride=21)
    torch.testing.assert_close(slide, whole_inference(pointwise, images))


def test_batched_crops_match_one_crop_at_a_time(segmentor) -> None:
    images = torch.randn(1, 3, 56, 80)
    batched = slide_inference(segmentor, images, num_classes=11, crop=32, stride=24, crop_batch=8, size_divisor=8)
    single = slide_inference(segmentor, images, num_classes=11, crop=32, stride=24, crop_batch=1, size_divisor=8)
    torch.testing.assert_close(batched, single, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(batched, whole_inference(segmentor, images, size_divisor=8), atol=1e-3)


def test_flip_averaging_and_settings() -> None:
    pointwise = nn.Conv2d(3, 4, kernel_size=1)
    images = torch.randn(1, 3, 16, 16)
    plain = Inferencer(mode="whole", size_divisor=1)(pointwise, images, 4)
    flipped = Inferencer(mode="whole", flip=True, size_divisor=1)(pointwise, images, 4)
    torch.testing.assert_close(plain, flipped)  # a pointwise model is flip-equivariant
    with pytest.raises(ValueError, match="'whole' or 'slide'"):
        Inferencer(mode="tiles")


def test_whole_inference_pads_to_the_patch_multiple(segmentor) -> None:
    logits = whole_inference(segmentor, torch.randn(1, 3, 30, 41), size_divisor=8)
    assert logits.shape == (1, 11, 30, 41)


@pytest.mark.gpu
def test_bf16_slide_on_gpu_agrees_with_fp32(segmentor) -> None:
    model = segmentor.cuda()
    images = torch.randn(2, 3, 56, 80, device="cuda")
    exact = slide_inference(model, images, num_classes=11, crop=32, stride=24, size_divisor=8)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        fast = slide_inference(model, images, num_classes=11, crop=32, stride=24, size_divisor=8)
    assert fast.dtype == torch.float32
    assert (fast.argmax(1) == exact.argmax(1)).float().mean() > 0.95

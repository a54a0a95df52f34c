"""Sliding-window inference: mmseg's window grid, equality with whole-image inference, batching, flips."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
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


class _LeftRight(nn.Module):
    """Not flip-equivariant: channel 0 is the column index within the input (a ramp), channel 1 the left
    neighbour of input channel 0 (0 at the first column)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ramp = torch.arange(x.shape[-1], dtype=x.dtype).expand(x.shape[0], 1, *x.shape[-2:])  # [B, 1, h, w]
        left = F.pad(x[:, :1, :, :-1], (1, 0))  # [B, 1, h, w]: column j holds x[..., j - 1]
        return torch.cat([ramp, left], dim=1)


def test_flip_averages_the_mirrored_logits_in_whole_mode() -> None:
    images = torch.randn(2, 3, 8, 12)
    plain = Inferencer(mode="whole", size_divisor=1)(_LeftRight(), images, 2)
    flipped = Inferencer(mode="whole", flip=True, size_divisor=1)(_LeftRight(), images, 2)
    assert torch.equal(plain[:, 0], torch.arange(12.0).expand(2, 8, 12))
    # flip(model(flip(x))): the ramp runs 11..0 and channel 1 becomes the right neighbour
    torch.testing.assert_close(flipped[:, 0], torch.full((2, 8, 12), 5.5))
    x = images[:, 0]
    left, right = F.pad(x[..., :-1], (1, 0)), F.pad(x[..., 1:], (0, 1))
    torch.testing.assert_close(flipped[:, 1], (left + right) / 2)
    torch.testing.assert_close(plain[:, 1], left)


def test_flip_averages_the_mirrored_logits_in_slide_mode() -> None:
    images = torch.randn(1, 3, 16, 24)
    # windows at columns [0, 16) and [8, 24); the ramp restarts in each, so without flips column j reads
    # j (j < 8), (j + j - 8) / 2 (overlap) or j - 8 (j >= 16)
    slide = Inferencer(mode="slide", crop=16, stride=8, size_divisor=1)
    j = torch.arange(24.0)
    expected_plain = torch.where(j < 8, j, torch.where(j < 16, j - 4, j - 8))
    torch.testing.assert_close(slide(_LeftRight(), images, 2)[0, 0], expected_plain.expand(16, 24))
    # mirrored: the grid is symmetric, so the mirrored pass gives expected_plain reversed; the mean is 7.5
    flipped = Inferencer(mode="slide", crop=16, stride=8, flip=True, size_divisor=1)(_LeftRight(), images, 2)
    torch.testing.assert_close(flipped[0, 0], torch.full((16, 24), 7.5))
    torch.testing.assert_close(flipped[0, 0], (expected_plain + expected_plain.flip(0)).expand(16, 24) / 2)


def test_inference_mode_is_checked() -> None:
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

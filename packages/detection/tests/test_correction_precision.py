"""Box correction under bf16-mixed autocast: decoding and fusion stay in float32 (same boxes as without it)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.models.detection import FCOS

from vislite_detection.models import create_detector
from vislite_detection.ndet import FCOSBoxCorrector, correct_boxes, correct_boxes_per_gt

BF16 = {"device_type": "cpu", "dtype": torch.bfloat16}


def _large_boxes(num: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``num`` noisy boxes of 300-700 px in a 1000 px image and 40 teacher predictions near each."""
    gen = torch.Generator().manual_seed(seed)
    corner = torch.rand(num, 2, generator=gen) * 250
    gt = torch.cat([corner, corner + 300 + torch.rand(num, 2, generator=gen) * 400], dim=1)
    preds = gt.repeat(40, 1) + torch.randn(40 * num, 4, generator=gen) * 8.0
    return gt, preds


def test_correct_boxes_ignores_an_enclosing_bf16_autocast() -> None:
    gt, preds = _large_boxes(20, seed=0)
    gen = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 3, (20,), generator=gen)
    probs, ctr = torch.rand(800, 3, generator=gen), torch.rand(800, generator=gen)
    expected = correct_boxes(gt, labels, preds, probs, ctr)
    assert (expected != gt).any(dim=1).float().mean() > 0.9  # nearly every box moves
    with torch.autocast(**BF16):
        out = correct_boxes(gt, labels, preds, probs, ctr)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=0.0)


def test_per_box_fusion_ignores_an_enclosing_bf16_autocast() -> None:
    gt, preds = _large_boxes(20, seed=2)
    cand = preds.view(40, 20, 4).transpose(0, 1)  # [G, R, 4]
    scores = torch.rand(20, 40, generator=torch.Generator().manual_seed(3))
    expected = correct_boxes_per_gt(gt, cand, scores)
    with torch.autocast(**BF16):
        out = correct_boxes_per_gt(gt, cand, scores)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=0.0)


def test_fcos_corrector_decodes_and_fuses_in_float32_under_autocast(make_oracle: Callable[..., FCOS]) -> None:
    torch.manual_seed(0)
    transform = create_detector("test_fcos").transform
    clean = torch.tensor([[12.0, 20.0, 180.0, 230.0], [100.0, 40.0, 250.0, 150.0]])
    targets = [{"boxes": clean + torch.tensor([6.0, -5.0, 8.0, 4.0]), "labels": torch.tensor([1, 4])}]
    images, targets = transform([torch.rand(3, 256, 256)], targets)
    corrector = FCOSBoxCorrector(teacher=make_oracle(images, [clean], [targets[0]["labels"]]))
    expected = corrector(images, targets)[0]["boxes"]
    assert (expected != targets[0]["boxes"]).all()
    with torch.autocast(**BF16):
        out = corrector(images, targets)[0]["boxes"]
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=0.0)

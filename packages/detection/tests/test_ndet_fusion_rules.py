"""NDet's other fusion rules (fcos_noise_head.py adapt_cfg): ratio, "exp" and top-k, by hand."""

from __future__ import annotations

import math

import pytest
import torch

from vislite_detection.ndet import correct_boxes, correct_boxes_per_gt

D = torch.float64
G = torch.tensor([[0.0, 0.0, 10.0, 10.0]], dtype=D)
PREDS = torch.tensor([[0.0, 0.0, 10.0, 11.0], [0.0, 0.0, 12.0, 10.0]], dtype=D)  # IoU 10/11 and 5/6
PROBS = torch.tensor([[0.0, 0.4], [0.0, 0.6]], dtype=D)  # class 1; centerness 1
CTR = torch.ones(2, dtype=D)


def _fused(w1: float, w2: float) -> list[float]:
    x2 = (10 + w1 * 10 + w2 * 12) / (1 + w1 + w2)
    y2 = (10 + w1 * 11 + w2 * 10) / (1 + w1 + w2)
    return [0.0, 0.0, x2, y2]


def test_step_rule_ratio_squares_into_the_weight() -> None:
    out = correct_boxes(G, torch.tensor([1]), PREDS, PROBS, CTR, ratio=2.0)
    assert out[0].tolist() == pytest.approx(_fused(1.6, 2.4))
    assert out[0].tolist() == pytest.approx([0, 0, 10.96, 10.32])


def test_exp_rule_weights_by_the_iou_gap() -> None:
    out = correct_boxes(G, torch.tensor([1]), PREDS, PROBS, CTR, 0.01, rule="exp", sigma=0.025)
    w1 = 0.4 * math.exp(-((1 / 11) ** 2) / 0.025)
    w2 = 0.6 * math.exp(-((1 / 6) ** 2) / 0.025)
    assert out[0].tolist() == pytest.approx(_fused(w1, w2), rel=1e-12)
    # at iou_thr 0.7 both still count; at 0.85 only the first
    high = correct_boxes(G, torch.tensor([1]), PREDS, PROBS, CTR, 0.85, rule="exp")
    assert high[0].tolist() == pytest.approx(_fused(w1, 0.0), rel=1e-12)
    with pytest.raises(ValueError, match="fusion rule"):
        correct_boxes(G, torch.tensor([1]), PREDS, PROBS, CTR, rule="gauss")


def test_topk_keeps_each_box_s_largest_weights() -> None:
    out = correct_boxes(G, torch.tensor([1]), PREDS, PROBS, CTR, topk=1)
    assert out[0].tolist() == pytest.approx([0, 0, 10.75, 10.0])  # only 0.6 x [0, 0, 12, 10]
    assert torch.equal(
        correct_boxes(G, torch.tensor([1]), PREDS, PROBS, CTR, topk=5),
        correct_boxes(G, torch.tensor([1]), PREDS, PROBS, CTR),
    )
    per_gt = correct_boxes_per_gt(G, PREDS[None], torch.tensor([[0.4, 0.6]], dtype=D), topk=1)
    assert per_gt[0].tolist() == pytest.approx([0, 0, 10.75, 10.0])

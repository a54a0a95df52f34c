"""HierKD's ATSS assignment and anchors, by hand."""

from __future__ import annotations

import math

import torch

from vislite_detection.hierkd import atss_assign, level_anchors


def test_level_anchors_layout() -> None:
    (a,) = level_anchors([(2, 3)], [16], octave_base_scale=8)
    # side 8 * 16 = 128 centred on (x * 16, y * 16), rows ordered (y, x)
    assert a.shape == (6, 4)
    assert a[0].tolist() == [-64.0, -64.0, 64.0, 64.0]
    assert a[2].tolist() == [-32.0, -64.0, 96.0, 64.0]  # (y 0, x 2)
    assert a[3].tolist() == [-64.0, -48.0, 64.0, 80.0]  # (y 1, x 0)
    sizes = [(h, h) for h in (16, 8, 4, 2, 1)]
    levels = level_anchors(sizes)
    assert [lv.shape[0] for lv in levels] == [256, 64, 16, 4, 1]
    assert [float(lv[0, 2] - lv[0, 0]) for lv in levels] == [64.0, 128.0, 256.0, 512.0, 1024.0]


def test_atss_mean_plus_std_threshold_by_hand() -> None:
    anchors = level_anchors([(4, 4)], [8], octave_base_scale=2)  # side 16 at (8x, 8y)
    gt = torch.tensor([[4.0, 1.0, 16.0, 13.0]])  # centre (10, 7)
    assigned, iou = atss_assign(anchors, gt, topk=3)
    # nearest centres: (8, 8) d=2.24, (16, 8) d=6.08, (8, 0) d=7.28; IoUs 144/256, 96/304, 84/316
    ious = [144 / 256, 96 / 304, 84 / 316]
    mean = sum(ious) / 3
    std = math.sqrt(sum((v - mean) ** 2 for v in ious) / 2)  # unbiased, as torch.std
    assert ious[0] >= mean + std > ious[1]  # 0.5625 >= 0.5402 > 0.3158
    expected = torch.full((16,), -1)
    expected[1 * 4 + 1] = 0  # the anchor at (x 8, y 8): row y=1, x=1
    assert torch.equal(assigned, expected)
    assert iou[5].item() == float(torch.tensor(144 / 256))


def test_atss_centre_must_lie_inside_the_gt() -> None:
    anchors = level_anchors([(4, 4)], [8], octave_base_scale=2)
    # a small box inside every nearby anchor: equal IoUs (std 0) pass the threshold, but no anchor centre is
    # inside the box, so nothing is positive
    gt = torch.tensor([[9.5, 9.0, 15.0, 14.0]])
    assigned, _ = atss_assign(anchors, gt, topk=3)
    assert (assigned == -1).all()
    # grown to hold the centre (16, 8): candidates (16, 8), (8, 8), (16, 16) with IoUs 52.5/256, 45.5/263,
    # 45/263.5; threshold 0.202 keeps only (16, 8), whose centre is inside
    gt = torch.tensor([[9.5, 7.0, 17.0, 14.0]])
    assigned, _ = atss_assign(anchors, gt, topk=3)
    expected = torch.full((16,), -1)
    expected[1 * 4 + 2] = 0
    assert torch.equal(assigned, expected)


def test_atss_highest_iou_wins_and_levels_pick_topk_each() -> None:
    anchors = level_anchors([(4, 4), (2, 2)], [8, 16], octave_base_scale=2)
    gts = torch.tensor([[0.0, 0.0, 16.0, 16.0], [2.0, 2.0, 14.0, 14.0]])
    assigned, iou = atss_assign(anchors, gts, topk=2)
    # the anchor (0, 0, 16, 16) at (8, 8) matches GT 0 exactly (IoU 1) and GT 1 with 144/256: GT 0 wins
    assert assigned[5] == 0 and iou[5] == 1.0
    assert atss_assign(anchors, torch.zeros(0, 4))[0].eq(-1).all()


def test_atss_float64() -> None:
    anchors = level_anchors([(4, 4)], [8], octave_base_scale=2, dtype=torch.float64)
    assigned, iou = atss_assign(anchors, torch.tensor([[4.0, 1.0, 16.0, 13.0]], dtype=torch.float64), topk=3)
    assert iou.dtype == torch.float64 and assigned[5] == 0

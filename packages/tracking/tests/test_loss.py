"""Loss values on hand-computed cases: GIoU, L1, CenterNet focal loss, Gaussian centre targets."""

from __future__ import annotations

import math

import pytest
import torch

from vislite_tracking.ostrack.loss import TrackingLoss, centernet_focal_loss, centre_heatmaps, gaussian_radius


def test_gaussian_radius_bug_version() -> None:
    # w = h = 4, overlap 0.7: r1 = (8 + sqrt(64 - 4 * 4.8/1.7)) / 2, r2 = (16 + sqrt(256 - 16 * 4.8)) / 2,
    # r3 = (-11.2 + sqrt(11.2^2 + 4 * 2.8 * 4.8)) / 2 = 1.0935 (the minimum)
    r3 = (-11.2 + math.sqrt(11.2**2 + 4 * 2.8 * 4.8)) / 2
    radius = gaussian_radius(torch.tensor([4.0]), torch.tensor([4.0]))
    assert radius.item() == pytest.approx(r3, rel=1e-5)


def test_centre_heatmap_peak_and_neighbours() -> None:
    box = torch.tensor([[0.25, 0.25, 0.25, 0.25]])  # 4 x 4 cells on a 16 grid, centre cell (6, 6)
    heat = centre_heatmaps(box, 16)[0, 0]
    assert heat.shape == (16, 16) and heat[6, 6] == 1.0 and int((heat == 1).sum()) == 1
    sigma = 3 / 6  # radius 1 -> diameter 3
    assert heat[6, 7].item() == pytest.approx(math.exp(-1 / (2 * sigma**2)))
    assert heat[7, 7].item() == pytest.approx(math.exp(-2 / (2 * sigma**2)))
    assert heat[6, 8] == 0 and heat.sum().item() == pytest.approx(1 + 4 * math.exp(-2) + 4 * math.exp(-4))


def test_focal_loss_by_hand() -> None:
    target = torch.tensor([[[[1.0, 0.5], [0.0, 0.0]]]])
    pred = torch.tensor([[[[0.8, 0.4], [0.1, 0.2]]]])
    pos = math.log(0.8) * 0.2**2
    neg = math.log(0.6) * 0.4**2 * 0.5**4 + math.log(0.9) * 0.1**2 + math.log(0.8) * 0.2**2
    assert centernet_focal_loss(pred, target).item() == pytest.approx(-(pos + neg), rel=1e-5)
    no_positive = torch.zeros_like(target)
    expected = -(math.log(0.2) * 0.64 + math.log(0.6) * 0.16 + math.log(0.9) * 0.01 + math.log(0.8) * 0.04)
    assert centernet_focal_loss(pred, no_positive).item() == pytest.approx(expected, rel=1e-5)


def test_tracking_loss_weights_giou_and_l1_by_hand() -> None:
    score = torch.full((1, 1, 16, 16), 0.5)
    pred = torch.tensor([[0.5, 0.5, 0.5, 0.5]])  # cx, cy, w, h -> xyxy (0.25, 0.25, 0.75, 0.75)
    target = torch.tensor([[0.25, 0.25, 0.25, 0.25]])  # x, y, w, h -> xyxy (0.25, 0.25, 0.5, 0.5)
    out = TrackingLoss()({"boxes": pred, "score_map": score}, target)
    # IoU = 0.0625 / 0.25; the enclosing box is the prediction, so GIoU = IoU = 0.25
    assert out["giou"].item() == pytest.approx(0.75)
    assert out["l1"].item() == pytest.approx((0 + 0 + 0.25 + 0.25) / 4)
    assert out["iou"].item() == pytest.approx(0.25)
    focal = centernet_focal_loss(score, centre_heatmaps(target, 16))
    assert out["loss"].item() == pytest.approx(2 * 0.75 + 5 * 0.125 + focal.item(), rel=1e-6)


def test_perfect_boxes_and_clamped_target() -> None:
    target = torch.tensor([[0.9, 0.1, 0.3, 0.2]])  # leaves the crop on the right: clamped to x2 = 1
    pred = torch.tensor([[0.95, 0.2, 0.1, 0.2]])  # exactly the clamped target
    out = TrackingLoss()({"boxes": pred, "score_map": torch.full((1, 1, 16, 16), 0.5)}, target)
    assert out["giou"].item() == pytest.approx(0.0, abs=1e-5) and out["l1"].item() == pytest.approx(0.0, abs=1e-6)


def test_nan_predictions_stop_training() -> None:
    with pytest.raises(ValueError, match="NaN"):
        TrackingLoss()({"boxes": torch.full((1, 4), math.nan), "score_map": torch.rand(1, 1, 4, 4)}, torch.rand(1, 4))

"""The attack's exact functions on hand-computed cases: patch placement and its fake ground truth, SiamFC++ dense
box targets, and the attack loss (float64 inputs)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vislite_tracking.attack import attack_loss, attack_search_region, make_densebox_target

TINY = float(np.finfo(np.float32).tiny)


def crop(value: float = 100.0, size: int = 303) -> torch.Tensor:
    return torch.full((1, 3, size, size), value, dtype=torch.float64)


def test_placement_truncates_and_shifts_above_a_wide_box() -> None:
    patch = torch.full((1, 3, 4, 4), 10.0, dtype=torch.float64)
    # x: (100.3 + 151 / 0.8 - 110) * 0.8 = 143.24 -> 143; y: (120.9 + 188.75 - 130) * 0.8 = 143.72 -> 143 (not 144)
    adv, box, fgt = attack_search_region(crop(250.0), patch, (100.3, 120.9, 30, 20), (110, 130), 0.8)
    assert box == (143, 137, 147, 141)  # w > h: y1 = 143 - (4 + 2)
    assert adv.dtype == torch.float64
    assert torch.all(adv[:, :, 137:141, 143:147] == 260.0)  # added, no [0, 255] clamp
    assert adv.sum().item() == pytest.approx(250.0 * 3 * 303 * 303 + 10.0 * 3 * 16)
    # X1 = 143 / 0.8 + 110 - 188.75 = 100, X2 = 147 / 0.8 - 78.75 = 105 -> w = 6; Y1 = 137 / 0.8 - 58.75 = 112.5
    assert fgt == pytest.approx((100.0, 112.5, 6.0, 6.0))


def test_placement_shifts_left_when_not_strictly_wider() -> None:
    patch = torch.zeros((1, 3, 4, 4), dtype=torch.float64)
    _, box, fgt = attack_search_region(crop(), patch, (100.3, 120.9, 20, 20), (110, 130), 0.8)
    assert box == (137, 143, 141, 147)
    assert fgt[0] == pytest.approx(137 / 0.8 + 110 - 188.75)


def test_placement_clamps_at_both_borders() -> None:
    patch = torch.ones((1, 3, 4, 4), dtype=torch.float64)
    search = crop(0.0, 20)
    kw = dict(x_size=20)
    # x: 22 -> 22 - 6 = 16, 16 + 4 >= 20 -> 20 - 1 - 4 = 15; y: 3 stays
    _, box, _ = attack_search_region(search, patch, (22, 3, 2, 5), (10, 10), 1.0, **kw)
    assert box == (15, 3, 19, 7)
    # x: 21 - 6 = 15, 15 + 4 = 19 < 20 stays
    _, box, _ = attack_search_region(search, patch, (21, 3, 2, 5), (10, 10), 1.0, **kw)
    assert box[0] == 15
    # negative after the shift -> 0; y below the bottom -> 15
    _, box, fgt = attack_search_region(search, patch, (1, 40, 2, 5), (10, 10), 1.0, **kw)
    assert box == (0, 15, 4, 19)
    assert fgt == pytest.approx((0.0, 15.0, 5.0, 5.0))  # s = 1, c = x_size // 2: identity, +1 in w / h


def test_placement_pastes_in_ap_and_adds_everywhere_in_uap_with_gradients() -> None:
    patch = torch.full((1, 3, 4, 4), -7.0, dtype=torch.float64, requires_grad=True)
    adv, box, _ = attack_search_region(crop(90.0, 20), patch, (10, 10, 2, 5), (10, 10), 1.0, x_size=20, phase="AP")
    x1, y1, x2, y2 = box
    assert torch.all(adv[:, :, y1:y2, x1:x2] == -7.0) and adv.sum().item() == pytest.approx(90 * 3 * 384 - 7 * 48)
    adv.sum().backward()
    assert torch.all(patch.grad == 1.0)
    whole = torch.full((1, 3, 20, 20), 2.0, dtype=torch.float64)
    adv, _, _ = attack_search_region(crop(90.0, 20), whole, (10, 10, 2, 5), (10, 10), 1.0, x_size=20, phase="UAP")
    assert torch.all(adv == 92.0)


def test_placement_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        attack_search_region(crop(0.0, 20), torch.zeros(1, 3, 20, 20), (1, 1, 2, 2), (10, 10), 1.0)
    with pytest.raises(ValueError, match="phase"):
        attack_search_region(crop(0.0, 20), torch.zeros(1, 3, 4, 4), (1, 1, 2, 2), (10, 10), 1.0, phase="X")
    with pytest.raises(ValueError, match="UAP"):
        attack_search_region(crop(0.0, 20), torch.zeros(1, 3, 4, 4), (1, 1, 2, 2), (10, 10), 1.0, phase="UAP")


def test_densebox_target_303_19_8_by_hand() -> None:
    cls, ctr, box = make_densebox_target(torch.tensor([[79.0, 79.0, 100.0, 90.0]], dtype=torch.float64))
    assert cls.shape == (1, 361, 1) and ctr.shape == (1, 361, 1) and box.shape == (1, 361, 4)
    assert cls.dtype == ctr.dtype == box.dtype == torch.float32
    # locations at 79 + 8k: x in {87, 95} strictly inside (79 is on the edge), y only 87 -> n = 19 + 1, 19 + 2
    assert torch.nonzero(cls[0, :, 0]).flatten().tolist() == [20, 21]
    f = np.float32
    ctr20 = np.sqrt(np.abs(f(8 * 3) / (f(13 * 8) + f(1e-5))))  # l 8 r 13, t 8 b 3
    ctr21 = np.sqrt(np.abs(f(5 * 3) / (f(16 * 8) + f(1e-5))))  # l 16 r 5
    assert ctr[0, 20, 0].item() == float(ctr20) and ctr[0, 21, 0].item() == float(ctr21)
    assert int((ctr != 0).sum()) == 2
    assert box[0, 20].tolist() == [79.0, 79.0, 100.0, 90.0] and box[0, 0].tolist() == [0.0] * 4


def test_densebox_target_offset_for_other_sizes() -> None:
    # (31 - 1 - 3 * 8) // 2 = 3: locations 3, 11, 19, 27; a box (2, 2, 4, 4) holds location 0 only
    cls, ctr, _ = make_densebox_target(torch.tensor([[2.0, 2.0, 4.0, 4.0]]), x_size=31, score_size=4, total_stride=8)
    assert cls.shape == (1, 16, 1) and cls[0, :, 0].tolist() == [1.0] + [0.0] * 15
    assert ctr[0, 0, 0].item() == pytest.approx(1 / math.sqrt(1 + 1e-5), rel=1e-6)
    # batches are independent
    cls, _, _ = make_densebox_target(
        torch.tensor([[2.0, 2.0, 4.0, 4.0], [10.0, 2.0, 12.0, 4.0]]), x_size=31, score_size=4
    )
    assert torch.nonzero(cls[..., 0]).tolist() == [[0, 0], [1, 1]]


def test_densebox_target_rejects_bad_shape_and_takes_one_box() -> None:
    with pytest.raises(ValueError, match="fake_boxes"):
        make_densebox_target(torch.zeros(2, 5))
    one = make_densebox_target(np.array([79.0, 79.0, 100.0, 90.0]))
    assert one[0].shape == (1, 361, 1) and int(one[0].sum()) == 2


def bce(x: float, y: float) -> float:
    return max(x, 0.0) - x * y + math.log1p(math.exp(-abs(x)))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def tiny_case() -> dict:
    # x_size 27, S 2, stride 8: locations (9, 9), (17, 9), (9, 17), (17, 17); box (5, 5, 20, 14) holds n = 0, 1
    kw = dict(x_size=27, score_size=2, total_stride=8)
    cls = torch.tensor([2.0, -1.0, 0.5, -3.0], dtype=torch.float64).view(1, 4, 1)
    ctr = torch.tensor([0.3, -0.2, 5.0, 5.0], dtype=torch.float64).view(1, 4, 1)
    boxes = torch.tensor([[5, 5, 20, 14], [6, 5, 20, 14], [0, 0, -1, -1], [1, 2, 3, 4]], dtype=torch.float64).view(
        1, 4, 4
    )
    fake = torch.tensor([[5.0, 5.0, 20.0, 14.0]], dtype=torch.float64)
    uap_z = torch.full((1, 3, 2, 2), 2.0, dtype=torch.float64)
    patch_x = torch.full((1, 3, 2, 2), 3.0, dtype=torch.float64)
    return dict(args=(cls, ctr, boxes, fake, uap_z, patch_x), kw=kw)


def expected_tiny() -> dict[str, float]:
    p = [sigmoid(v) for v in (2.0, -1.0, 0.5, -3.0)]
    cls = (
        -(
            0.75 * (1 - p[0]) ** 2 * math.log(p[0])
            + 0.75 * (1 - p[1]) ** 2 * math.log(p[1])
            + 0.25 * p[2] ** 2 * math.log(1 - p[2])
            + 0.25 * p[3] ** 2 * math.log(1 - p[3])
        )
        / 2
    )
    c0 = float(np.sqrt(np.float32(16) / (np.float32(55) + np.float32(1e-5))))  # l 4 r 11, t 4 b 5
    c1 = float(np.sqrt(np.float32(12) / (np.float32(60) + np.float32(1e-5))))  # l 12 r 3
    ctr = (bce(0.3, c0) + bce(-0.2, c1)) / 2
    # n0 exact (IoU 1); n1 (6, 5, 20, 14): areas 16 x 10 and 15 x 10 (+1 pixel), inter 150 -> IoU 0.9375
    reg = 3 * (0.0 - math.log(0.9375)) / 2
    return dict(cls=cls, ctr=ctr, reg=reg, iou=(1 + 0.9375) / 2, norm_z=4.0, norm_x=9.0)


def test_attack_loss_by_hand_float64() -> None:
    case, want = tiny_case(), expected_tiny()
    out = attack_loss(*case["args"], **case["kw"])
    for key, value in want.items():
        assert out[key].item() == pytest.approx(value, rel=1e-6), key
    assert out["total"].dtype == torch.float64
    total = want["cls"] + want["ctr"] + want["reg"] + 0.005 * 4 + 0.005 * 9
    assert out["total"].item() == pytest.approx(total, rel=1e-6)
    ap = attack_loss(*case["args"], phase="AP", cls_weight=2.0, ctr_weight=0.0, reg_weight=0.5, **case["kw"])
    total_ap = 2 * want["cls"] + 0.5 * want["reg"] + 0.005 * 4 + 1e-5 * 9
    assert ap["total"].item() == pytest.approx(total_ap, rel=1e-6)


def test_attack_loss_floors_logs_at_float32_tiny_in_float64() -> None:
    case = tiny_case()
    cls, ctr, boxes, fake, uap_z, patch_x = case["args"]
    cls = torch.tensor([-200.0, 50.0, -50.0, -50.0], dtype=torch.float64).view(1, 4, 1)  # p0 = 1e-87 < tiny
    boxes = boxes.clone()
    boxes[0, 1] = torch.tensor([100.0, 100.0, 110.0, 110.0])  # no overlap: IoU 0
    out = attack_loss(cls, ctr, boxes, fake, uap_z, patch_x, **case["kw"])
    floor = -math.log(TINY)  # 87.3365...
    assert out["cls"].item() == pytest.approx(0.75 * floor / 2, rel=1e-9)
    assert out["reg"].item() == pytest.approx(3 * floor / 2, rel=1e-9)
    assert out["iou"].item() == pytest.approx(0.5)


def test_attack_loss_rejects_bad_shapes_and_phase() -> None:
    case = tiny_case()
    with pytest.raises(ValueError, match="cls_pred"):
        attack_loss(*case["args"], score_size=3, x_size=27)
    with pytest.raises(ValueError, match="phase"):
        attack_loss(*case["args"], phase="FGSM", **case["kw"])

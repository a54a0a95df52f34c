"""PDNet's exact functions against figures computed by hand from the official code's rules."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from vislite_detection.pdnet import (
    assign_coarse_targets,
    assign_final_targets,
    collect_concat,
    collect_merge,
    decode_boxes,
    giou_loss,
    ml_nms,
)

F64 = torch.float64


def _loc(*points: tuple[float, float]) -> torch.Tensor:
    """A [1, 2P, 1, 1] location map from (y, x) pairs."""
    return torch.tensor([c for p in points for c in p], dtype=F64).reshape(1, -1, 1, 1)


# ------------------------------------------------------------------------------------------------ collection ops
def test_collect_merge_bilinear_and_bias() -> None:
    grid = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=F64).reshape(1, 1, 2, 2)
    assert collect_merge(grid, _loc((0.5, 0.5)), point_num=1).item() == pytest.approx(2.5)
    out = collect_merge(grid, _loc((0.25, 1.0)), torch.tensor([0.5], dtype=F64), point_num=1)
    assert out.item() == pytest.approx(0.75 * 2 + 0.25 * 4 + 0.5)
    assert out.dtype == F64 and out.shape == (1, 1, 1, 1)


def test_collect_merge_sums_each_points_own_channels() -> None:
    # P = 2 points, C = 2 channels: point 0 reads channels 0-1, point 1 channels 2-3 (constant maps 1, 2, 10, 20)
    maps = torch.tensor([1.0, 2.0, 10.0, 20.0], dtype=F64).reshape(1, 4, 1, 1).expand(1, 4, 3, 3).contiguous()
    out = collect_merge(maps, _loc((1.0, 1.0), (0.5, 2.0)), torch.tensor([0.1, 0.2], dtype=F64), point_num=2)
    assert out.flatten().tolist() == pytest.approx([1 + 10 + 0.1, 2 + 20 + 0.2])


def test_collect_concat_keeps_points_apart() -> None:
    maps = torch.arange(1.0, 5.0, dtype=F64).reshape(1, 4, 1, 1).expand(1, 4, 2, 2).contiguous()
    loc = _loc((0.0, 0.0), (-0.5, 0.0), (1.5, 1.0), (5.0, 0.0))  # inside, half outside, half outside, outside
    out = collect_concat(maps, loc, torch.tensor([0.0, 0.0, 0.0, 0.5], dtype=F64), point_num=4)
    assert out.flatten().tolist() == pytest.approx([1.0, 2 * 0.5, 3 * 0.5, 0.5])


def test_one_cell_maps_and_strict_bounds() -> None:
    one = torch.full((1, 1, 1, 1), 5.0, dtype=F64)
    figures = {
        (0.0, 0.0): 5.0,
        (-0.5, 0.0): 2.5,
        (0.25, 0.5): 0.75 * 0.5 * 5,
        (0.999, 0.0): 0.001 * 5,
        (-1.0, 0.0): 0.0,  # y <= -1
        (1.0, 0.0): 0.0,  # y >= H
        (0.0, -1.0): 0.0,
        (0.0, 1.0): 0.0,
        (-3.0, 7.0): 0.0,
    }
    for (y, x), value in figures.items():
        assert collect_merge(one, _loc((y, x)), point_num=1).item() == pytest.approx(value, abs=1e-12), (y, x)


def test_location_gradient_follows_the_cuda_kernels() -> None:
    grid = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=F64).reshape(1, 1, 2, 2)

    def grad(y: float, x: float) -> list[float]:
        loc = _loc((y, x)).requires_grad_()
        collect_merge(grid, loc, point_num=1).sum().backward()
        return loc.grad.flatten().tolist()

    assert grad(0.0, 0.0) == pytest.approx([3 - 1, 2 - 1])  # integer: towards floor + 1
    assert grad(1.0, 1.0) == pytest.approx([-4.0, -4.0])  # last cell: the outside neighbour reads 0
    assert grad(1.0, 0.5) == pytest.approx([-(0.5 * 3 + 0.5 * 4), 4 - 3])
    assert grad(-1.0, 0.5) == [0.0, 0.0]  # on the strict bound: value and gradient 0
    assert grad(0.5, 2.0) == [0.0, 0.0]


def _grid_sample_reference(inp: torch.Tensor, loc: torch.Tensor, points: int) -> torch.Tensor:
    """Per-point grid_sample (align_corners=True, zeros) masked by the strict bounds: [B, P, C, Ho, Wo]."""
    b, pc, h, w = inp.shape
    out = []
    for i in range(points):
        y, x = loc[:, 2 * i], loc[:, 2 * i + 1]
        g = torch.stack([2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1], dim=-1)
        s = F.grid_sample(inp[:, i * pc // points : (i + 1) * pc // points], g, align_corners=True)
        out.append(s * ((y > -1) & (y < h) & (x > -1) & (x < w))[:, None])
    return torch.stack(out, 1)


def test_matches_grid_sample_on_random_maps() -> None:
    gen = torch.Generator().manual_seed(0)
    inp = torch.randn(2, 9 * 3, 5, 7, dtype=F64, generator=gen)
    loc = torch.rand(2, 18, 4, 6, dtype=F64, generator=gen) * 10 - 2  # many points outside
    ref = _grid_sample_reference(inp, loc, 9)
    torch.testing.assert_close(collect_merge(inp, loc, point_num=9), ref.sum(1), rtol=0, atol=1e-12)
    torch.testing.assert_close(collect_concat(inp, loc, point_num=9), ref.flatten(1, 2), rtol=0, atol=1e-12)


@pytest.mark.parametrize("size", [(1, 1), (2, 3)])
def test_gradcheck_input_location_bias(size: tuple[int, int]) -> None:
    gen = torch.Generator().manual_seed(1)
    h, w = size
    inp = torch.randn(2, 3 * 2, h, w, dtype=F64, generator=gen).requires_grad_()
    loc = (torch.rand(2, 6, 2, 3, dtype=F64, generator=gen) * (max(h, w) + 1.6) - 1.3).requires_grad_()
    bias = torch.randn(2, dtype=F64, generator=gen).requires_grad_()
    assert gradcheck(lambda a, b, c: collect_merge(a, b, c, point_num=3), (inp, loc, bias), eps=1e-6, atol=1e-7)
    cbias = torch.randn(6, dtype=F64, generator=gen).requires_grad_()
    assert gradcheck(lambda a, b, c: collect_concat(a, b, c, point_num=3), (inp, loc, cbias), eps=1e-6, atol=1e-7)


def test_collection_errors_name_the_field() -> None:
    inp = torch.zeros(1, 8, 2, 2)
    with pytest.raises(ValueError, match="2\\*point_num"):
        collect_merge(inp, torch.zeros(1, 6, 2, 2), point_num=4)
    with pytest.raises(ValueError, match="not divisible"):
        collect_merge(torch.zeros(1, 7, 2, 2), torch.zeros(1, 8, 2, 2), point_num=4)
    with pytest.raises(ValueError, match="bias"):
        collect_concat(inp, torch.zeros(1, 8, 2, 2), torch.zeros(2), point_num=4)
    with pytest.raises(ValueError, match="batch"):
        collect_merge(inp, torch.zeros(2, 8, 2, 2), point_num=4)


# ---------------------------------------------------------------------------------------------------- assigners
SIZES_64 = [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]  # a 64 x 64 batch, strides 8 ... 128


def _positives(labels: torch.Tensor) -> dict[int, int]:
    return {int(i): int(labels[i]) for i in torch.nonzero(labels >= 0).flatten()}


def test_coarse_single_centre_cell_and_levels() -> None:
    boxes = torch.tensor(
        [
            [10.0, 20.0, 25.0, 35.0],  # 16 x 16 with "+1": level 3, centre (17.5, 27.5) -> cell (3, 2) of P3
            [0.0, 0.0, 63.0, 63.0],  # 64 x 64 with "+1": level 4, centre 31.5 / 16 -> cell (2, 2) of P4
        ]
    )
    labels = assign_coarse_targets(boxes, (64, 64), SIZES_64)
    assert labels.dtype == torch.long and labels.shape == (86,)
    assert _positives(labels) == {3 * 8 + 2: 0, 64 + 2 * 4 + 2: 1}


def test_coarse_truncation_and_plus_one_area() -> None:
    # 63 x 63 ("+1") -> log2 63 - 2 = 3.98 -> trunc 3 (P3); 62-wide corners +1 = 63 too; 64 x 64 -> P4
    small = assign_coarse_targets(torch.tensor([[0.0, 0.0, 62.0, 62.0]]), (64, 64), SIZES_64)
    assert list(_positives(small)) == [4 * 8 + 4]  # centre 31 / 8 = 3.875 -> cell (4, 4) of P3
    large = assign_coarse_targets(torch.tensor([[0.0, 0.0, 63.0, 63.0]]), (64, 64), SIZES_64)
    assert list(_positives(large)) == [64 + 2 * 4 + 2]
    tiny = assign_coarse_targets(torch.tensor([[30.0, 30.0, 30.0, 30.0]]), (64, 64), SIZES_64)
    assert list(_positives(tiny)) == [4 * 8 + 4]  # area 1: log2 1 - 2 = -2 -> clamp to 3


def test_coarse_inclusive_half_cell_and_ties() -> None:
    # centre exactly 20 px = 2.5 cells: both neighbours on each axis are within 0.5 (inclusive) -> 4 cells
    four = assign_coarse_targets(torch.tensor([[13.0, 13.0, 27.0, 27.0]]), (64, 64), SIZES_64)
    assert sorted(_positives(four)) == [18, 19, 26, 27]
    # two level-3 boxes claim cell (1, 1): the smaller normalised distance wins (box 0: 0.044 vs 0.133)
    boxes = torch.tensor([[0.0, 0.0, 15.0, 15.0], [2.0, 2.0, 17.0, 17.0]])
    assert _positives(assign_coarse_targets(boxes, (64, 64), SIZES_64)) == {9: 0}
    assert _positives(assign_coarse_targets(boxes.flip(0), (64, 64), SIZES_64)) == {9: 1}


def test_coarse_padding_region_and_empty_boxes() -> None:
    labels = assign_coarse_targets(torch.zeros(0, 4), (30, 64), SIZES_64)  # ceil(30 / 32) * 32 = 32 rows valid
    assert int((labels == -2).sum()) == 4 * 8 + 2 * 4 + 1 * 2  # P3 rows 4-7, P4 rows 2-3, P5 row 1
    assert int((labels == -1).sum()) == 86 - 42
    assert (labels[: 4 * 8] == -1).all() and (labels[4 * 8 : 64] == -2).all()
    # a 100 x 7300 image in a batch padded to 256 x 7328: on P6 rows y < ceil(100/32)*32/64 = 2 are real.
    # A 7300 x 9 box ("+1" area 65700: level trunc(8.0017 - 2) = 6) centred at y = 96 = 1.5 cells claims rows 1
    # and 2 (inclusive bound); row 2 is padding.
    boxes = torch.tensor([[0.0, 92.0, 7299.0, 100.0]])
    sizes = [(32, 916), (16, 458), (8, 229), (4, 115), (2, 58)]
    out = assign_coarse_targets(boxes, (100, 7300), sizes)
    p6 = sum(h * w for h, w in sizes[:3])
    assert _positives(out) == {p6 + 1 * 115 + 57: 0}  # centre x 3649.5 / 64 = 57.02
    assert int(out[p6 + 2 * 115 + 57]) == -2


def test_final_iou_thresholds_plus_one_and_inverted() -> None:
    gt = torch.tensor([[0.0, 0.0, 9.0, 9.0]])  # 10 x 10 with "+1"
    coarse = torch.tensor(
        [
            [0.0, 0.0, 9 / 8, 9 / 8],  # (t, l, b, r) grid units x 8 = the box: IoU 1
            [0.0, 0.0, 9 / 8, 0.5],  # 10 x 5: IoU 0.5
            [2.0, 0.0, 1.0, 1.0],  # t > b: inverted, IoU -2e8
        ]
    )
    kwargs = dict(strides=(8,))
    assert assign_final_targets(coarse, gt, (8, 24), [(1, 3)], **kwargs).tolist() == [0, -1, -1]
    between = assign_final_targets(coarse, gt, (8, 24), [(1, 3)], pos_iou_thr=0.6, neg_iou_thr=0.4, **kwargs)
    assert between.tolist() == [0, -2, -1]


def test_final_low_quality_rule_is_pdnets_own() -> None:
    # box 1 overlaps nothing: its maximum IoU is 0 (>= -1), so every cell with IoU exactly 0 to it is matched;
    # such a cell then takes the argmax of its IoUs *where matched, 0 elsewhere*: all zeros -> box 0
    gt = torch.tensor([[0.0, 0.0, 9.0, 9.0], [100.0, 100.0, 109.0, 109.0]])
    coarse = torch.tensor([[0.0, 0.0, 9 / 8, 9 / 8], [0.0, 0.0, 9 / 8, 0.5], [2.0, 0.0, 1.0, 1.0]])
    labels = assign_final_targets(coarse, gt, (8, 24), [(1, 3)], strides=(8,))
    assert labels.tolist() == [0, 0, -1]
    # a single box whose best coarse box has IoU 0.5 < 0.6 still gets that cell
    weak = assign_final_targets(coarse[1:], gt[:1], (8, 16), [(1, 2)], strides=(8,))
    assert weak.tolist() == [0, -1]


def test_final_touching_boxes_use_plus_one_intersection_and_padding() -> None:
    gt = torch.tensor([[0.0, 0.0, 9.0, 9.0]])
    coarse = torch.tensor([[10 / 8, 0.0, 19 / 8, 9 / 8], [9 / 8, 0.0, 18 / 8, 9 / 8]])  # y 10-19, y 9-18
    iou_touch = 10 / (100 + 100 - 10)  # one shared row of 10 px counts with "+1"
    labels = assign_final_targets(coarse, gt, (8, 16), [(1, 2)], strides=(8,), pos_iou_thr=iou_touch)
    assert labels.tolist() == [-1, 0]
    coarse5 = torch.zeros(5, 4)
    labels5 = assign_final_targets(coarse5, gt, (8, 20), [(1, 5)], strides=(8,))  # ceil(20/32)*32/8 = 4 columns
    assert labels5[4].item() == -2 and (labels5[:4] >= -1).all()


def test_assigner_errors() -> None:
    with pytest.raises(ValueError, match="gt_boxes"):
        assign_coarse_targets(torch.zeros(3), (64, 64), SIZES_64)
    with pytest.raises(ValueError, match="feature_sizes"):
        assign_coarse_targets(torch.zeros(0, 4), (64, 64), SIZES_64[:3])
    with pytest.raises(ValueError, match="coarse boxes"):
        assign_final_targets(torch.zeros(5, 4), torch.zeros(1, 4), (64, 64), SIZES_64)


# -------------------------------------------------------------------------------------------- boxes, loss, NMS
def test_decode_boxes_caps_orders_and_clamps() -> None:
    reg = torch.tensor([[1.0, 2.0, 2.0, 3.0], [3.0, -1.0, 1.0, 5.0]], dtype=F64).T.reshape(4, 1, 2)
    out = decode_boxes(reg, stride=8, image_size=(20, 30))
    assert out.dtype == F64 and out.shape == (2, 4)
    # cell 0: (t, l, b, r) * 8 = (8, 16, 16, 24) -> (x1, y1, x2, y2) = (16, 8, 24, 16)
    # cell 1: (24, -8, 8, 40) -> min with (h, w) (20, -8, 8, 30) -> (-8, 20, 30, 8) -> y2 = max(20, 8) = 20
    #         -> clamp x to [0, 29], y to [0, 19]: (0, 19, 29, 19)
    assert out.tolist() == [[16.0, 8.0, 24.0, 16.0], [0.0, 19.0, 29.0, 19.0]]
    with pytest.raises(ValueError, match="reg_boxes"):
        decode_boxes(torch.zeros(2, 3, 3), stride=8, image_size=(20, 30))


def test_giou_loss_convention() -> None:
    box = torch.tensor([[0.0, 0.0, 10.0, 10.0]], dtype=F64)
    assert giou_loss(box, box).item() == pytest.approx(0.0, abs=1e-9)
    half = torch.tensor([[0.0, 0.0, 10.0, 5.0]], dtype=F64)
    # inter 50, union 100: IoU (50 + 1) / (100 + 1); hull = union -> GIoU = IoU
    assert giou_loss(half, box).item() == pytest.approx(1 - 51 / 101, abs=1e-7)
    inverted = torch.tensor([[5.0, 0.0, 1.0, 10.0]], dtype=F64, requires_grad=True)
    loss = giou_loss(inverted, box)
    loss.sum().backward()
    assert loss.item() == 1.0 and inverted.grad.abs().sum() == 0


def test_ml_nms_plus_one_areas_per_class() -> None:
    boxes = torch.tensor([[0.0, 0.0, 9.0, 9.0], [0.0, 3.0, 9.0, 12.0], [0.0, 3.0, 9.0, 12.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    labels = torch.tensor([1, 1, 2])
    # "+1": inter 10 x 7 = 70, union 130 -> 0.538 (without +1: 9 x 6 / (162 - 54) = 0.5)
    assert ml_nms(boxes, scores, labels, 0.52).tolist() == [0, 2]
    assert ml_nms(boxes, scores, labels, 0.55).tolist() == [0, 1, 2]


def test_assigners_take_tensor_sizes() -> None:
    boxes = torch.tensor([[10.0, 20.0, 25.0, 35.0]], dtype=F64)
    plain = assign_coarse_targets(boxes, (64, 64), SIZES_64)
    tensors = assign_coarse_targets(
        boxes, torch.tensor([64, 64]), torch.tensor(SIZES_64), strides=torch.tensor([8, 16, 32, 64, 128])
    )
    assert torch.equal(plain, tensors)
    coarse = torch.zeros(86, 4, dtype=F64)
    assert torch.equal(
        assign_final_targets(coarse, boxes, (64, 64), SIZES_64),
        assign_final_targets(coarse, boxes, torch.tensor([64, 64]), torch.tensor(SIZES_64)),
    )

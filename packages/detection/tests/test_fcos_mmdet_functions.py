"""vislite_detection.fcos_mmdet's exact functions against figures worked out by hand on tiny cases."""

from __future__ import annotations

import math

import pytest
import torch

from vislite_detection.fcos_mmdet import REGRESS_RANGES, STRIDES, fcos_loss, fcos_points, fcos_postprocess, fcos_targets

LN2 = math.log(2.0)


def test_constants_are_mmdetection_s() -> None:
    assert STRIDES == (8, 16, 32, 64, 128)
    assert REGRESS_RANGES == ((-1, 64), (64, 128), (128, 256), (256, 512), (512, 1e8))


def test_points_sit_at_half_stride_row_major_in_the_requested_dtype() -> None:
    level0, level1 = fcos_points([(2, 3), (1, 1)], (8, 16), dtype=torch.float64)
    assert level0.dtype == torch.float64 and level1.dtype == torch.float64
    assert level0.tolist() == [[4, 4], [12, 4], [20, 4], [4, 12], [12, 12], [20, 12]]
    assert level1.tolist() == [[8, 8]]
    assert [p.shape[0] for p in fcos_points([(100, 152), (50, 76), (25, 38), (13, 19), (7, 10)])] == [
        15200,
        3800,
        950,
        247,
        70,
    ]
    assert fcos_points([(1, 1)], (16, 32))[0].tolist() == [[8, 8]]  # fewer levels: the first strides
    assert fcos_points([(1, 1)])[0].tolist() == [[4, 4]]
    with pytest.raises(ValueError, match="strides"):
        fcos_points([(2, 2), (1, 1), (1, 1)], (8, 16))


def _targets(sizes, boxes, labels, strides, **kwargs):
    return fcos_targets(
        sizes,
        [torch.tensor(boxes, dtype=torch.float64).reshape(-1, 4)],
        [torch.tensor(labels, dtype=torch.int64)],
        strides=strides,
        **kwargs,
    )


def test_targets_centre_sampling_and_stride_units() -> None:
    # box 0..16 at stride 8: centre (8, 8), half-side 1.5 * 8 = 12, so the sampling square covers the whole box
    labels, targets = _targets([(4, 4)], [[0, 0, 16, 16]], [2], (8,), num_classes=3, regress_ranges=((-1, 64),))
    assert labels.shape == (1, 16) and labels.dtype == torch.int64 and targets.dtype == torch.float64
    grid = labels[0].view(4, 4)
    assert grid.tolist() == [[2, 2, 3, 3], [2, 2, 3, 3], [3, 3, 3, 3], [3, 3, 3, 3]]
    assert targets[0, 0].tolist() == [0.5, 0.5, 1.5, 1.5]  # point (4, 4): l t r b = 4 4 12 12 px, / 8
    assert targets[0, 5].tolist() == [1.5, 1.5, 0.5, 0.5]
    # box 0..64: the square [20, 44]^2 keeps only the points 28 and 36 of each axis (4 of the 64 inside the box)
    labels, _ = _targets([(8, 8)], [[0, 0, 64, 64]], [0], (8,), num_classes=1, regress_ranges=((-1, 64),))
    positive = (labels[0] == 0).view(8, 8).nonzero().tolist()
    assert positive == [[3, 3], [3, 4], [4, 3], [4, 4]]
    labels, targets = _targets(
        [(8, 8)], [[0, 0, 64, 64]], [0], (8,), num_classes=1, regress_ranges=((-1, 64),), center_sampling=False
    )
    assert int((labels == 0).sum()) == 64  # max distance 60 at most
    assert targets[0, 0].tolist() == [0.5, 0.5, 7.5, 7.5]
    _, pixels = _targets(
        [(8, 8)], [[0, 0, 64, 64]], [0], (8,), num_classes=1, regress_ranges=((-1, 64),), norm_on_bbox=False
    )
    assert pixels[0, 0].tolist() == [4.0, 4.0, 60.0, 60.0]


def test_points_on_the_sampling_edge_are_outside() -> None:
    # box 4..20: the points 4 and 20 lie on its edges (l = 0 / r = 0), only (12, 12) is strictly inside
    labels, _ = _targets([(3, 3)], [[4, 4, 20, 20]], [0], (8,), num_classes=1, regress_ranges=((-1, 64),))
    assert (labels[0] == 0).nonzero().flatten().tolist() == [4]
    # centre sampling: box 0..100 x 0..8, centre x 50, square [38, 62]: the point 60 is inside, 36 and 68 are not; a
    # square edge that falls on a point excludes it (box 0..96: square [36, 60], points 36 and 60 are out)
    labels, _ = _targets([(1, 13)], [[0, 0, 100, 8]], [0], (8,), num_classes=1, regress_ranges=((-1, 1e8),))
    assert (labels[0] == 0).nonzero().flatten().tolist() == [5, 6, 7]  # x = 44, 52, 60
    labels, _ = _targets([(1, 13)], [[0, 0, 96, 8.5]], [0], (8,), num_classes=1, regress_ranges=((-1, 1e8),))
    assert (labels[0] == 0).nonzero().flatten().tolist() == [5, 6]  # x = 44, 52 (36 and 60 on the edges)


def test_regress_ranges_are_inclusive_at_both_ends() -> None:
    ranges = ((-1, 64), (64, 128))
    # box 0..68 x 0..16: the level-0 point x = 4 has r = 64 exactly (upper end included), x = 68 has l = 68
    labels, _ = _targets(
        [(2, 9), (1, 5)], [[0, 0, 68, 16]], [0], (8, 16), num_classes=1, regress_ranges=ranges, center_sampling=False
    )
    level0 = labels[0, :18].view(2, 9)
    assert level0.tolist() == [[0] * 8 + [1]] * 2
    assert labels[0, 18:].tolist() == [1] * 5  # level 1 (y = 8): max distance 60 < 64
    # box 0..72: the level-1 point (8, 8) has r = 64 exactly (lower end included)
    labels, _ = _targets(
        [(2, 10), (1, 5)], [[0, 0, 72, 16]], [0], (8, 16), num_classes=1, regress_ranges=ranges, center_sampling=False
    )
    assert labels[0, 20:].tolist() == [0, 1, 1, 1, 1]
    assert labels[0, :20].view(2, 10)[0].tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 1, 1]  # x = 4 (r 68), 68 (l 68)


def test_smallest_exact_area_wins_and_ties_go_to_the_lowest_index() -> None:
    kwargs = {"num_classes": 4, "regress_ranges": ((-1, 64),), "center_sampling": False}
    # a 32 px box listed first, a 16 px box second: the points inside both go to the smaller
    labels, targets = _targets([(4, 4)], [[0, 0, 32, 32], [0, 0, 16, 16]], [2, 1], (8,), **kwargs)
    assert labels[0].view(4, 4).tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [2, 2, 2, 2], [2, 2, 2, 2]]
    assert targets[0, 0].tolist() == [0.5, 0.5, 1.5, 1.5]
    # equal areas (16 x 32 and 32 x 16): the lowest index, whatever the shape
    labels, _ = _targets([(4, 4)], [[0, 0, 16, 32], [0, 0, 32, 16]], [3, 0], (8,), **kwargs)
    assert labels[0].view(4, 4).tolist() == [[3, 3, 0, 0], [3, 3, 0, 0], [3, 3, 4, 4], [3, 3, 4, 4]]
    # areas 256.016 and 256 compare exactly: the second box wins though it comes later
    labels, _ = _targets([(2, 2)], [[0, 0, 16, 16.001], [0, 0, 16, 16]], [3, 1], (8,), **kwargs)
    assert labels[0].tolist() == [1, 1, 1, 1]


def test_default_ranges_serve_fewer_levels() -> None:
    labels, _ = fcos_targets(
        [(2, 2)], [torch.tensor([[0.0, 0.0, 16.0, 16.0]])], [torch.tensor([0])], num_classes=1, strides=(8,)
    )
    assert labels[0].tolist() == [0, 0, 0, 0]  # level 0: stride 8, range (-1, 64)
    with pytest.raises(ValueError, match="regress ranges"):
        fcos_targets([(2, 2), (1, 1)], [torch.zeros(0, 4)], [torch.zeros(0)], num_classes=1, regress_ranges=((-1, 64),))


def test_images_without_boxes_are_all_background() -> None:
    labels, targets = fcos_targets(
        [(2, 2), (1, 1)],
        [torch.zeros(0, 4), torch.tensor([[0.0, 0.0, 16.0, 16.0]])],
        [torch.zeros(0, dtype=torch.int64), torch.tensor([0])],
        num_classes=5,
        strides=(8, 16),
        regress_ranges=((-1, 64), (64, 128)),
    )
    assert labels.shape == (2, 5) and targets.shape == (2, 5, 4)
    assert labels[0].tolist() == [5] * 5 and targets[0].abs().sum() == 0
    assert labels[1].tolist() == [0, 0, 0, 0, 5]
    with pytest.raises(ValueError, match="gt_labels\\[0\\]"):
        fcos_targets(
            [(2, 2)], [torch.zeros(1, 4)], [torch.tensor([5])], num_classes=5, strides=(8,), regress_ranges=((-1, 64),)
        )


def _maps(height, width, classes, box_values, dtype=torch.float64):
    cls = torch.zeros(1, classes, height, width, dtype=dtype, requires_grad=True)
    box = torch.tensor(box_values, dtype=dtype).t().reshape(1, 4, height, width).requires_grad_(True)
    ctr = torch.zeros(1, 1, height, width, dtype=dtype, requires_grad=True)
    return cls, box, ctr


def test_loss_of_a_square_box_by_hand() -> None:
    # box 0..16 at stride 8, map 2 x 2: all 4 points positive (class 1), targets (.5 .5 1.5 1.5) mirrored, c = 1/3
    perfect = [[0.5, 0.5, 1.5, 1.5], [1.5, 0.5, 0.5, 1.5], [0.5, 1.5, 1.5, 0.5], [1.5, 1.5, 0.5, 0.5]]
    cls, box, ctr = _maps(2, 2, 2, [[1.0, 1.0, 1.0, 1.0]] + perfect[1:])
    gt, labels = [torch.tensor([[0.0, 0.0, 16.0, 16.0]], dtype=torch.float64)], [torch.tensor([1])]
    kwargs = {"num_classes": 2, "strides": (8,), "regress_ranges": ((-1, 64),)}
    losses = fcos_loss([cls], [box], [ctr], gt, labels, **kwargs)
    assert all(v.dtype == torch.float64 for v in losses.values())
    # focal at logit 0: positive 0.25 * 0.5^2 * ln 2, negative 0.75 * 0.5^2 * ln 2; 4 points x (1 pos + 1 neg)
    assert float(losses["loss_cls"]) == pytest.approx(LN2 / (4 + 1), rel=1e-12)
    # point (4, 4): pred [3, 3, 5, 5] vs target [3.5, 3.5, 5.5, 5.5]: IoU 2.25 / 5.75, enclosing 6.25
    # GIoU = 9/23 - 2/25 = 179/575, the 3 other points exact; equal weights 1/3: loss = (396/575) / 4
    assert float(losses["loss_bbox"]) == pytest.approx(396 / 575 / 4, rel=1e-12)
    assert float(losses["loss_centerness"]) == pytest.approx(LN2, rel=1e-12)  # BCE(logit 0, any target) = ln 2
    per_pos = fcos_loss([cls], [box], [ctr], gt, labels, cls_normalizer="num_pos", **kwargs)
    assert float(per_pos["loss_cls"]) == pytest.approx(LN2 / 4, rel=1e-12)
    sum(losses.values()).backward()
    assert box.grad is not None and box.grad[0, :, 1, 1].abs().sum() == 0 and box.grad[0, :, 0, 0].abs().sum() > 0


def test_giou_is_weighted_by_the_centerness_target_and_divided_by_its_sum() -> None:
    # box 0..24 x 0..16, map 2 x 3: c = sqrt(1/15) at x = 4, 20 and sqrt(1/3) at x = 12
    a, b = math.sqrt(1 / 15), math.sqrt(1 / 3)
    perfect = [
        [0.5, 0.5, 2.5, 1.5], [1.5, 0.5, 1.5, 1.5], [2.5, 0.5, 0.5, 1.5],
        [0.5, 1.5, 2.5, 0.5], [1.5, 1.5, 1.5, 0.5], [2.5, 1.5, 0.5, 0.5],
    ]  # fmt: skip
    values = [list(v) for v in perfect]
    values[1] = [1.0, 1.0, 1.0, 1.0]  # point (12, 4): pred [11, 3, 13, 5] vs target [10.5, 3.5, 13.5, 5.5]
    cls, box, ctr = _maps(2, 3, 1, values)
    ctr.data[0, 0, 0, 0] = math.log(2.0)
    losses = fcos_loss(
        [cls], [box], [ctr], [torch.tensor([[0.0, 0.0, 24.0, 16.0]], dtype=torch.float64)], [torch.tensor([0])],
        num_classes=1, strides=(8,), regress_ranges=((-1, 64),),
    )  # fmt: skip
    # IoU 3 / 7, enclosing 3 x 2.5 = 7.5: 1 - GIoU = 1 - (3/7 - 0.5/7.5) = 67/105
    assert float(losses["loss_bbox"]) == pytest.approx(b * 67 / 105 / (4 * a + 2 * b), rel=1e-12)
    softplus_ln2 = math.log(3.0)
    expected_ctr = (5 * LN2 + softplus_ln2 - math.log(2.0) * a) / 6
    assert float(losses["loss_centerness"]) == pytest.approx(expected_ctr, rel=1e-12)


def test_no_positive_point_gives_zero_box_losses_in_the_graph() -> None:
    cls, box, ctr = _maps(2, 2, 3, [[1.0] * 4] * 4, dtype=torch.float32)
    empty = [torch.zeros(0, 4), torch.zeros(0, 4)]
    cls2, box2, ctr2 = (torch.cat([t, t.detach()]) for t in (cls, box, ctr))
    losses = fcos_loss(
        [cls2], [box2], [ctr2], empty, [torch.zeros(0, dtype=torch.int64)] * 2,
        num_classes=3, strides=(8,), regress_ranges=((-1, 64),),
    )  # fmt: skip
    assert float(losses["loss_bbox"]) == 0.0 and float(losses["loss_centerness"]) == 0.0
    assert losses["loss_bbox"].requires_grad and losses["loss_centerness"].requires_grad
    # 2 images x 4 points x 3 classes of negatives at logit 0: 24 * 0.75 * 0.25 * ln 2, over num_pos + B = 2
    assert float(losses["loss_cls"]) == pytest.approx(24 * 0.1875 * LN2 / 2, rel=1e-6)
    sum(losses.values()).backward()
    assert box.grad is not None and float(box.grad.abs().sum()) == 0.0


def test_loss_ignores_an_enclosing_autocast() -> None:
    torch.manual_seed(0)
    maps = [torch.randn(2, 3, 4, 4), torch.rand(2, 4, 4, 4) * 3, torch.randn(2, 1, 4, 4)]
    gt = [torch.tensor([[1.5, 2.25, 20.75, 27.5]]), torch.tensor([[3.0, 3.0, 30.0, 17.0], [0.0, 5.0, 9.0, 30.0]])]
    labels = [torch.tensor([2]), torch.tensor([0, 1])]
    kwargs = {"num_classes": 3, "strides": (8,), "regress_ranges": ((-1, 64),)}
    plain = fcos_loss(*[[m] for m in maps], gt, labels, **kwargs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto = fcos_loss(*[[m] for m in maps], gt, labels, **kwargs)
    for name in plain:
        assert auto[name].dtype == torch.float32
        assert float(auto[name]) == float(plain[name])


def _post_maps(logits, distances, ctr_logits, height, width):
    classes = len(logits[0])
    cls = torch.tensor(logits, dtype=torch.float64).t().reshape(1, classes, height, width)
    box = torch.tensor(distances, dtype=torch.float64).t().reshape(1, 4, height, width)
    ctr = torch.tensor(ctr_logits, dtype=torch.float64).reshape(1, 1, height, width)
    return [cls], [box], [ctr]


def test_postprocess_scores_clamping_and_class_wise_nms() -> None:
    # points (4, 4) and (12, 4); image 10 high, 12 wide
    cls, box, ctr = _post_maps([[2.0, -10.0], [-10.0, 0.0]], [[4, 4, 4, 4], [20, 20, 20, 20]], [0.0, 0.0], 1, 2)
    [(boxes, scores, labels)] = fcos_postprocess(cls, box, ctr, [(10, 12)], strides=(8,))
    assert boxes.dtype == torch.float64
    assert boxes.tolist() == [[0, 0, 8, 8], [0, 0, 12, 10]]  # [-8, -16, 32, 24] clamped to x <= 12, y <= 10
    sigmoid2 = 1 / (1 + math.exp(-2.0))
    assert scores.tolist() == pytest.approx([sigmoid2 * 0.5, 0.25], rel=1e-12)  # cls x ctr, no square root
    assert labels.tolist() == [0, 1]
    # the threshold is strict: 0.5 x 0.5 = 0.25 is not above 0.25
    [(_, scores, _)] = fcos_postprocess(cls, box, ctr, [(10, 12)], strides=(8,), score_thr=0.25)
    assert scores.tolist() == pytest.approx([sigmoid2 * 0.5])
    # same class: IoU([0,0,8,8], [0,0,12,10]) = 64 / 120 = 0.533 survives NMS 0.6 but not 0.5
    cls, box, ctr = _post_maps([[2.0, -10.0], [0.0, -10.0]], [[4, 4, 4, 4], [20, 20, 20, 20]], [0.0, 0.0], 1, 2)
    [(boxes, _, _)] = fcos_postprocess(cls, box, ctr, [(10, 12)], strides=(8,))
    assert len(boxes) == 2
    [(boxes, _, _)] = fcos_postprocess(cls, box, ctr, [(10, 12)], strides=(8,), nms_iou=0.5)
    assert boxes.tolist() == [[0, 0, 8, 8]]
    [(boxes, _, _)] = fcos_postprocess(cls, box, ctr, [(10, 12)], strides=(8,), max_per_img=1)
    assert boxes.tolist() == [[0, 0, 8, 8]]


def test_postprocess_nms_pre_ranks_points_by_their_best_class_times_centerness() -> None:
    # three points (4, 4), (12, 4), (20, 4), far apart boxes; point 2 has the best cls but a low centerness
    logits = [[0.0, 1.0], [0.5, -5.0], [3.0, -5.0]]
    distances = [[2, 2, 2, 2]] * 3
    cls, box, ctr = _post_maps(logits, distances, [0.0, 0.0, -3.0], 1, 3)
    sig = torch.sigmoid(torch.tensor([1.0, 0.5, 3.0, -3.0], dtype=torch.float64)).tolist()
    # best class x centerness: point 0 0.366 (class 1), point 1 0.311, point 2 0.045
    [(boxes, scores, labels)] = fcos_postprocess(cls, box, ctr, [(100, 100)], strides=(8,), nms_pre=1)
    assert boxes.tolist() == [[2, 2, 6, 6], [2, 2, 6, 6]] and labels.tolist() == [1, 0]  # other classes: no NMS
    assert scores.tolist() == pytest.approx([sig[0] * 0.5, 0.25], rel=1e-12)
    [(boxes, scores, labels)] = fcos_postprocess(cls, box, ctr, [(100, 100)], strides=(8,), nms_pre=2, score_thr=0.01)
    assert scores.tolist() == pytest.approx([sig[0] * 0.5, sig[1] * 0.5, 0.25], rel=1e-12)
    assert boxes.tolist() == [[2, 2, 6, 6], [10, 2, 14, 6], [2, 2, 6, 6]] and labels.tolist() == [1, 0, 0]
    [(_, scores, _)] = fcos_postprocess(cls, box, ctr, [(100, 100)], strides=(8,), nms_pre=3, score_thr=0.01)
    assert scores.tolist()[-1] == pytest.approx(sig[2] * sig[3], rel=1e-12)  # point 2 comes back


def test_postprocess_of_an_image_without_candidates_is_empty() -> None:
    cls, box, ctr = _post_maps([[-9.0], [-9.0]], [[1, 1, 1, 1]] * 2, [0.0, 0.0], 1, 2)
    [(boxes, scores, labels)] = fcos_postprocess(cls, box, ctr, [(16, 16)], strides=(8,))
    assert boxes.shape == (0, 4) and scores.shape == (0,) and labels.shape == (0,)
    with pytest.raises(ValueError, match="image_sizes"):
        fcos_postprocess(cls, box, ctr, [(16, 16), (16, 16)], strides=(8,))

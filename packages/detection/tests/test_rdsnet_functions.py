"""RDSNet's exact functions against figures computed by hand from the official arithmetic."""

from __future__ import annotations

import math

import pytest
import torch

from vislite_detection.rdsnet import assemble_masks, mask_loss, mbrm_refine, sanitize_coordinates


def ce(logit_fg: float, label: int) -> float:
    """Two-class cross-entropy with background logit 0."""
    return math.log1p(math.exp(-logit_fg)) if label == 1 else math.log1p(math.exp(logit_fg))


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


# Foreground logit of every pixel (background representation 0, foreground 1, D = 1).
P3 = [[2.0, 1.0, 5.0], [-1.0, 0.0, 7.0], [3.0, 3.0, 3.0]]
FG_ONLY = torch.tensor([[[0.0], [1.0]]])  # obj_reps [1, 2, 1]


# ---------------------------------------------------------------- sanitize / crop


def test_sanitize_coordinates_plus_one_padding_and_truncation() -> None:
    lo, hi = sanitize_coordinates(torch.tensor([5.9, 2.7]), torch.tensor([2.5, 2.9]), 8, 0.25)
    # box 0: ordered 2.5..5.9, pad = 0.25 * (3.4 + 1) = 1.1 -> 1.4 .. 7.0 -> 1, 7
    # box 1: pad = max(0.25 * 1.2, 1) = 1 -> 1.7 .. 3.9 -> 1, 3 (truncation, not rounding)
    assert lo.tolist() == [1, 1] and hi.tolist() == [7, 3]
    lo, hi = sanitize_coordinates(torch.tensor([6.0]), torch.tensor([7.5]), 8, 0.25)
    assert lo.tolist() == [5] and hi.tolist() == [8]  # clipped to the size


# ---------------------------------------------------------------- mask_loss


def test_mask_loss_ohem_by_hand() -> None:
    pixel = torch.tensor([P3])  # [1, 3, 3], s = 1
    gt = torch.zeros(1, 3, 3)
    gt[0, 0, 0] = 1
    box = torch.tensor([[0.0, 0.0, 1.0, 1.0]])  # pad max(0.25 * 2, 1) = 1 -> window rows / cols 0..1
    loss = mask_loss([pixel], [FG_ONLY], [box], [gt])
    # positive (0,0); negatives (0,1) p=1, (1,0) p=-1, (1,1) p=0; OHEM keeps the hardest one, (0,1)
    inst = (ce(2.0, 1) + ce(1.0, 0)) / (2 + 1)
    assert loss.shape == ()
    assert float(loss) == pytest.approx(inst / (1 + 1), rel=1e-6)
    no_ohem = mask_loss([pixel], [FG_ONLY], [box], [gt], use_mask_ohem=False, loss_weight=2.0)
    inst = (ce(2.0, 1) + ce(1.0, 0) + ce(-1.0, 0) + ce(0.0, 0)) / (4 + 1)
    assert float(no_ohem) == pytest.approx(2.0 * inst / 2, rel=1e-6)


def test_mask_loss_downsamples_targets_with_strict_half() -> None:
    pixel = torch.tensor([P3])  # [1, 3, 3] for a 6 x 6 padded image: s = 0.5
    gt = torch.zeros(1, 6, 6)
    gt[0, 0:2, 0:2] = 1  # block (0,0): mean 1 -> 1
    gt[0, 0, 2:4] = 1  # block (0,1): mean 0.5 -> 0 (strict > 0.5)
    gt[0, 2:4, 2:4] = 1
    gt[0, 3, 3] = 0  # block (1,1): mean 0.75 -> 1
    box = torch.tensor([[0.0, 0.0, 2.0, 2.0]])  # * 0.5 -> [0, 0, 1, 1]
    loss = mask_loss([pixel], [FG_ONLY], [box], [gt])
    # positives (0,0) p=2, (1,1) p=0; negatives (0,1) p=1, (1,0) p=-1: 2 positives keep both
    inst = (ce(2.0, 1) + ce(0.0, 1) + ce(1.0, 0) + ce(-1.0, 0)) / (4 + 1)
    assert float(loss) == pytest.approx(inst / 2, rel=1e-6)


def test_mask_loss_crop_truncates_and_batch_normalises() -> None:
    row = torch.tensor([[[0.0, 4.0, 1.0, -2.0, 0.0]]])  # [1, 1, 5]
    gt_row = torch.tensor([[[0.0, 0.0, 1.0, 1.0, 0.0]]])
    box = torch.tensor([[2.7, 0.0, 2.9, 0.0]])  # x window 1.7 .. 3.9 -> columns 1, 2
    inst_row = (ce(4.0, 0) + ce(1.0, 1)) / (2 + 1)
    pixel = torch.tensor([P3])
    gt = torch.zeros(1, 3, 3)
    gt[0, 0, 0] = 1
    inst_sq = (ce(2.0, 1) + ce(1.0, 0)) / 3
    empty = (torch.zeros(1, 4, 4), torch.zeros(0, 2, 1), torch.zeros(0, 4), torch.zeros(0, 4, 4))
    loss = mask_loss(
        [row, pixel, empty[0]],
        [FG_ONLY, FG_ONLY, empty[1]],
        [box, torch.tensor([[0.0, 0.0, 1.0, 1.0]]), empty[2]],
        [gt_row, gt, empty[3]],
    )
    assert float(loss) == pytest.approx((inst_row + inst_sq) / (2 + 1), rel=1e-6)
    only_empty = mask_loss([empty[0]], [empty[1]], [empty[2]], [empty[3]])
    assert float(only_empty) == 0.0


def test_mask_loss_background_rep_two_instances_float64_and_gradients() -> None:
    pixel = torch.tensor([P3], dtype=torch.float64, requires_grad=True)
    obj = torch.tensor([[[0.0], [1.0]], [[0.5], [-0.5]]], dtype=torch.float64, requires_grad=True)
    gt = torch.zeros(2, 3, 3, dtype=torch.float64)
    gt[0, 0, 0] = 1
    gt[1, 2, 2] = 1
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0]], dtype=torch.float64)
    loss = mask_loss([pixel], [obj], [boxes], [gt])
    assert loss.dtype == torch.float64
    # instance 1: logits (0.5 p, -0.5 p) -> fg - bg = -p; window: pad 1 -> rows / cols 1..2 (3 clipped)
    # pixels (1,1) p=0, (1,2) p=7, (2,1) p=3 negative, (2,2) p=3 positive; negative losses log1p(exp(-p)):
    # 0.693, 0.0009, 0.0486 -> OHEM keeps p=0
    inst1 = (ce(-3.0, 1) + ce(-0.0, 0)) / 3
    inst0 = (ce(2.0, 1) + ce(1.0, 0)) / 3
    assert loss.item() == pytest.approx((inst0 + inst1) / 3, rel=1e-12)
    loss.backward()
    assert pixel.grad is not None and pixel.grad.abs().sum() > 0
    assert obj.grad is not None and obj.grad.abs().sum() > 0
    assert pixel.grad[0, 0, 2] == 0  # outside both crops


def test_mask_loss_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="gt_masks"):
        mask_loss([torch.zeros(1, 3, 3)], [FG_ONLY], [torch.zeros(1, 4)], [torch.zeros(2, 3, 3)])
    with pytest.raises(ValueError, match="one entry per image"):
        mask_loss([torch.zeros(1, 3, 3)], [], [], [])


# ---------------------------------------------------------------- assemble_masks


def test_assemble_masks_unpad_crop_binarise() -> None:
    pixel = torch.tensor([[[0.0, 4.0], [4.0, 8.0]]])  # [1, 2, 2] for a 4 x 4 padded image
    box = torch.tensor([[1.0, 1.0, 1.0, 1.0]])  # padding max(0.1, 1) = 1 -> rows / cols 0..1
    probs = assemble_masks(pixel, FG_ONLY, box, pad_shape=(4, 4), img_shape=(3, 3))
    # bilinear 2 -> 4 (align_corners=False): [v0, .75v0+.25v1, .25v0+.75v1, v1]; logits [[0,1,3],[1,2,4],[3,4,6]]
    expected = torch.tensor([[sig(0), sig(1), 0], [sig(1), sig(2), 0], [0, 0, 0]])
    assert probs.shape == (1, 3, 3)
    torch.testing.assert_close(probs[0], expected)
    binary = assemble_masks(pixel, FG_ONLY, box, pad_shape=(4, 4), img_shape=(3, 3), mask_thr_binary=0.5)
    assert binary.dtype == torch.bool
    assert binary[0].tolist() == [
        [False, True, False],
        [True, True, False],
        [False, False, False],
    ]  # 0.5 > 0.5 is false


def test_assemble_masks_rescale_align_corners_softmax_float64() -> None:
    pixel = torch.tensor([[[0.0, 4.0], [4.0, 8.0]]], dtype=torch.float64)
    obj = torch.tensor([[[-1.0], [1.0]]], dtype=torch.float64)  # fg - bg = 2 * logit
    box = torch.tensor([[1.0, 1.0, 3.0, 3.0]], dtype=torch.float64)  # pad max(0.3, 1) = 1 -> 0..4
    probs = assemble_masks(pixel, obj, box, pad_shape=(4, 4), img_shape=(3, 3), ori_shape=(5, 5), padding=0.1)
    assert probs.dtype == torch.float64 and probs.shape == (1, 5, 5)
    # 3 -> 5 with align_corners=True samples at dst / 2: rows [0,1,3], [1,2,4], [3,4,6] -> 5 x 5
    logit = [[0, 0.5, 1, 2, 3], [0.5, 1, 1.5, 2.5, 3.5], [1, 1.5, 2, 3, 4], [2, 2.5, 3, 4, 5], [3, 3.5, 4, 5, 6]]
    expected = torch.tensor(
        [[sig(2 * v) if i < 4 and j < 4 else 0.0 for j, v in enumerate(r)] for i, r in enumerate(logit)],
        dtype=torch.float64,
    )
    torch.testing.assert_close(probs[0], expected)
    none = assemble_masks(pixel, obj[:0], box[:0], pad_shape=(4, 4), img_shape=(3, 3), ori_shape=(5, 5))
    assert none.shape == (0, 5, 5)


# ---------------------------------------------------------------- mbrm_refine

KERNEL = [-0.2968, -0.2892, -0.2635, -3.2545, -0.1874, 2.5041, 0.0196, 0.0651, 0.0917]


def scalar_mbrm(mask: list[list[float]], box: list[float], gamma: float = 0.05) -> list[int]:
    """One instance of the official MBRM, written out with Python scalars."""
    h, w = len(mask), len(mask[0])
    horiz = [max(mask[i][j] for i in range(h)) for j in range(w)]
    vert = [max(row) for row in mask]

    def conv(profile: list[float], kernel: list[float]) -> list[float]:
        n = len(profile)
        return [sum(kernel[k] * profile[i + k - 4] for k in range(9) if 0 <= i + k - 4 < n) - 1.9536 for i in range(n)]

    def edge(profile: list[float], kernel: list[float], centre: float, size: float) -> int:
        sigma = max(gamma * size, 1.0)
        scores = []
        for i, v in enumerate(conv(profile, kernel)):
            prior = math.exp(-((i - centre) ** 2) / (2 * sigma**2))
            scores.append(sig(v) * (prior if prior > 0.0044 else 0.0))
        return scores.index(max(scores))  # first maximum

    flipped = KERNEL[::-1]
    x1, y1, x2, y2 = box
    return [
        edge(horiz, KERNEL, x1, x2 - x1),
        edge(vert, KERNEL, y1, y2 - y1),
        edge(horiz, flipped, x2, x2 - x1),
        edge(vert, flipped, y2, y2 - y1),
    ]


def test_mbrm_clean_rectangle_by_hand() -> None:
    mask = torch.zeros(1, 12, 12)
    mask[0, 4:8, 3:7] = 1.0  # rows 4..7, columns 3..6
    box = torch.tensor([[3.0, 4.0, 6.0, 7.0]])
    # left response at column 2: 2.5041 + 0.0196 + 0.0651 + 0.0917 - 1.9536 = 0.7269 (the largest), at 3:
    # -0.1874 + 2.5041 + 0.0196 + 0.0651 - 1.9536 = 0.4478; sigma = max(0.05 * 3, 1) = 1, so the prior weighs
    # column 2 by exp(-1/2): sigmoid(0.7269) * 0.6065 = 0.409 < sigmoid(0.4478) = 0.610 -> the edge stays at 3
    assert mbrm_refine(mask, box).tolist() == [[3.0, 4.0, 6.0, 7.0]]
    # a flat prior (a large box) lets the response choose: one column outside the mask on each side
    assert sig(0.7269) * math.exp(-1 / (2 * 9)) > sig(0.4478)
    wide = torch.tensor([[3.0, 4.0, 63.0, 67.0]])  # sigma 3 px horizontally, 3.15 vertically
    assert mbrm_refine(mask, wide)[0, :2].tolist() == [2.0, 3.0]


def test_mbrm_prior_truncation_and_first_argmax() -> None:
    # all-zero mask: every response is sigmoid(bias); the prior alone decides; x.5 edges tie -> first index
    zero = torch.zeros(1, 10, 10)
    assert mbrm_refine(zero, torch.tensor([[2.5, 2.5, 5.5, 5.5]])).tolist() == [[2.0, 2.0, 5.0, 5.0]]
    # a strong edge 4 px from the box edge (sigma 1: exp(-8) < 0.0044 -> prior 0) loses to a weak one 3 px away
    mask = torch.zeros(1, 1, 20)
    mask[0, 0, 5:] = 1.0  # strong left edge: response peaks at column 4
    mask[0, 0, 10:] = 1.0
    mask[0, 0, 11] = 0.3
    box = torch.tensor([[8.0, 0.0, 15.0, 0.0]])  # sigma = max(0.05 * 7, 1) = 1
    out = mbrm_refine(mask, box)
    assert out[0, 0] != 4.0
    assert out[0].tolist() == [float(v) for v in scalar_mbrm(mask[0].tolist(), box[0].tolist())]


def test_mbrm_matches_scalar_reference_random_float64() -> None:
    gen = torch.Generator().manual_seed(0)
    masks = torch.rand(5, 17, 23, generator=gen, dtype=torch.float64)
    masks = (masks > 0.6).double() * torch.rand(5, 17, 23, generator=gen, dtype=torch.float64)
    boxes = torch.tensor(
        [
            [1.0, 2.0, 20.0, 15.0],
            [5.5, 3.2, 9.1, 8.8],
            [0.0, 0.0, 22.0, 16.0],
            [10.0, 4.0, 12.0, 5.0],
            [3.0, 3.0, 18.5, 12.5],
        ],
        dtype=torch.float64,
    )
    out = mbrm_refine(masks, boxes, gamma=0.3)
    assert out.dtype == torch.float64 and out.shape == (5, 4)
    for i in range(5):
        assert out[i].tolist() == [float(v) for v in scalar_mbrm(masks[i].tolist(), boxes[i].tolist(), 0.3)]
    big = torch.zeros(1, 300, 300)
    big[0, 50:250, 40:260] = 0.9
    box = torch.tensor([[30.0, 45.0, 270.0, 255.0]])  # sigma = 0.05 * 240 = 12 px: edges found 10 px away
    assert mbrm_refine(big, box).tolist() == [[39.0, 49.0, 260.0, 250.0]]


def test_mbrm_rejects_bad_input() -> None:
    assert mbrm_refine(torch.zeros(0, 4, 4), torch.zeros(0, 4)).shape == (0, 4)
    with pytest.raises(ValueError, match="kernel_size=9"):
        mbrm_refine(torch.zeros(1, 4, 4), torch.zeros(1, 4), kernel_size=7)
    with pytest.raises(ValueError, match="boxes"):
        mbrm_refine(torch.zeros(2, 4, 4), torch.zeros(1, 4))

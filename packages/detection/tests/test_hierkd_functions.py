"""HierKD's exact functions against figures worked out by hand on tiny cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vislite_detection.hierkd import (
    extract_regions,
    global_kd_loss,
    instance_kd_loss,
    sample_negatives,
    softmax_focal_cls_loss,
    text_logits,
)


def _focal(ce: float) -> float:
    return 0.25 * (1 - math.exp(-ce)) ** 2 * ce


# ---------------------------------------------------------------- text_logits


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_text_logits_by_hand(dtype: torch.dtype) -> None:
    x = torch.tensor([[3.0, 4.0], [0.0, -2.0]], dtype=dtype)  # normalised: (0.6, 0.8), (0, -1)
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=dtype)
    bg = torch.tensor([0.0, 2.0], dtype=dtype)  # normalised: (0, 1)
    out = text_logits(x, text, bg)
    assert out.dtype == dtype and out.shape == (2, 3)
    expected = torch.tensor([[60.0, 80.0, 80.0], [0.0, -100.0, -100.0]], dtype=dtype)
    assert torch.allclose(out, expected, atol=1e-4)
    fixed = text_logits(x, text, bg, tao=2.0, background_embedding_fix=True)
    assert torch.allclose(fixed, torch.tensor([[1.2, 1.6, 0.4], [0.0, -2.0, 0.4]], dtype=dtype), atol=1e-6)


def test_text_logits_eps_and_zero_vector() -> None:
    x = torch.tensor([[0.0, 0.0], [1e-12, 0.0]], dtype=torch.float64)
    out = text_logits(x, torch.eye(2, dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64), tao=1.0)
    assert torch.isfinite(out).all()
    assert out[0].abs().max() == 0
    # x/(|x| + 1e-10): 1e-12 / (1e-12 + 1e-10) = 1/101, not 1 as F.normalize would give
    assert out[1, 0].item() == pytest.approx(1 / 101, rel=1e-9)


def test_text_logits_width_mismatch_is_clear() -> None:
    with pytest.raises(ValueError, match="width"):
        text_logits(torch.ones(2, 3), torch.ones(4, 2), torch.ones(3))


# ---------------------------------------------------------------- softmax_focal_cls_loss


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_softmax_focal_by_hand(dtype: torch.dtype) -> None:
    # 2 classes + background. Level 0: a positive (uniform logits, ce = ln 3) and two negatives.
    lvl0 = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, math.log(2.0)], [5.0, 0.0, 0.0]], dtype=dtype)
    lab0 = torch.tensor([0, 2, 2])
    # Level 1: only a negative (a level without positives contributes nothing, even unsampled).
    lvl1 = torch.tensor([[9.0, 0.0, 0.0]], dtype=dtype)
    lab1 = torch.tensor([2])
    pos = _focal(math.log(3.0))  # 0.25 * (2/3)^2 * ln 3
    neg1 = _focal(math.log(2.0))  # row 1: p_bg = 2/4
    neg2 = _focal(-math.log(1 / (math.exp(5) + 2)))
    # sampled negative: only row 1
    out = softmax_focal_cls_loss(
        [lvl0, lvl1], [lab0, lab1], [torch.tensor([1]), torch.tensor([], dtype=torch.long)],
        num_total_samples=2.0, cls_weight=0.0,
    )
    assert out.dtype == dtype
    assert out.item() == pytest.approx((pos + neg1) / 2, rel=1e-6)
    mask = [torch.tensor([False, True, False]), torch.tensor([False])]
    out_mask = softmax_focal_cls_loss([lvl0, lvl1], [lab0, lab1], mask, num_total_samples=2.0, cls_weight=0.0)
    assert out_mask.item() == pytest.approx(out.item(), rel=1e-12)
    # None = every row of a level; exp(-w) scaling with w = ln 4
    out = softmax_focal_cls_loss([lvl0, lvl1], [lab0, lab1], None, num_total_samples=1.0, cls_weight=math.log(4.0))
    assert out.item() == pytest.approx((pos + neg1 + neg2) / 4, rel=1e-6)
    # label weights multiply rows before the sum
    lw = [torch.tensor([2.0, 0.0, 1.0], dtype=dtype), torch.ones(1, dtype=dtype)]
    out = softmax_focal_cls_loss(
        [lvl0, lvl1], [lab0, lab1], [None, None], num_total_samples=1.0, cls_weight=0.0, label_weights=lw
    )
    assert out.item() == pytest.approx(2 * pos + neg2, rel=1e-6)


def test_softmax_focal_gamma_alpha_and_gradients() -> None:
    logits = torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    out = softmax_focal_cls_loss([logits], [torch.tensor([1])], None, num_total_samples=1.0, cls_weight=w,
                                 gamma=0.0, alpha=1.0)
    ce = -math.log(math.exp(2) / (math.exp(1) + math.exp(2) + math.exp(0.5)))
    assert out.item() == pytest.approx(ce / math.e, rel=1e-9)  # gamma 0, alpha 1: plain CE, times e^-1
    out.backward()
    assert w.grad.item() == pytest.approx(-ce / math.e, rel=1e-9)
    assert logits.grad is not None


def test_sample_negatives_ten_percent() -> None:
    labels = torch.full((100,), 3)
    labels[:5] = 0
    g = torch.Generator().manual_seed(0)
    inds = sample_negatives(labels, 3, 0.1, generator=g)
    assert len(inds) == 9  # int(0.1 * 95)
    assert (labels[inds] == 3).all() and len(set(inds.tolist())) == 9
    assert len(sample_negatives(labels, 3, 0.0, generator=g)) == 5  # 1:1 mode


# ---------------------------------------------------------------- global_kd_loss


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_global_kd_diagonal_by_hand(dtype: torch.dtype) -> None:
    # image 0's single pixel is (1, 0), image 1's is (0, 1); captions equal them. Every pooled patch of an
    # image is its pixel, so attention is irrelevant and score[t, i] = 10 * [t == i].
    feats = [torch.tensor([[[[1.0]], [[0.0]]], [[[0.0]], [[1.0]]]], dtype=dtype)]  # (2, 2, 1, 1)
    text = torch.eye(2, dtype=dtype)
    out = global_kd_loss(feats, text)
    assert out.dtype == dtype
    tol = 1e-12 if dtype == torch.float64 else 1e-6  # float32 log-sum-exp near 10 has a ulp of ~1e-6
    assert out.item() == pytest.approx(2 * math.log(1 + math.exp(-10)), abs=tol)


def test_global_kd_attention_by_hand() -> None:
    # one image, one caption: CE terms vanish, so use two images with (1, 2) maps [p | q] and [q | p]
    p, q = [1.0, 0.0], [0.0, 1.0]
    f0 = torch.tensor([[p[0], q[0]], [p[1], q[1]]], dtype=torch.float64).reshape(1, 2, 1, 2)
    f1 = torch.tensor([[0.6, 0.8], [0.8, 0.6]], dtype=torch.float64).reshape(1, 2, 1, 2)  # pixels (.6,.8), (.8,.6)
    feats = [torch.cat([f0, f1])]
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    out = global_kd_loss(feats, text, dist_featuremap_tem=3.0)

    # adaptive max pool of a 1x2 row to 3x3: columns [a, max(a, b), b], each row alike (3 copies)
    def patches(a: list[float], b: list[float]) -> list[list[float]]:
        m = [max(a[0], b[0]), max(a[1], b[1])]
        n = math.hypot(*m)
        m = [m[0] / n, m[1] / n]
        return [a, m, b] * 3

    def score(t: list[float], pats: list[list[float]]) -> float:
        r = [t[0] * v[0] + t[1] * v[1] for v in pats]
        z = sum(math.exp(x) for x in r)
        f = [sum(math.exp(r[k]) / z * pats[k][d] for k in range(9)) for d in range(2)]
        n = math.hypot(*f)
        return 3.0 * (f[0] * t[0] + f[1] * t[1]) / n

    imgs = [patches(p, q), patches([0.6, 0.8], [0.8, 0.6])]
    s = [[score(text[t].tolist(), imgs[i]) for i in range(2)] for t in range(2)]  # s[t][i]

    def ce(row: list[float], k: int) -> float:
        return -row[k] + math.log(sum(math.exp(v) for v in row))

    expected = sum(ce(s[t], t) for t in range(2)) / 2 + sum(ce([s[0][i], s[1][i]], i) for i in range(2)) / 2
    assert out.item() == pytest.approx(expected, rel=1e-9)


def test_global_kd_levels_and_mean_pool() -> None:
    torch.manual_seed(0)
    feats = [F.normalize(torch.randn(3, 4, h, h, dtype=torch.float64), dim=1) for h in (5, 3, 2, 1)]
    text = F.normalize(torch.randn(3, 4, dtype=torch.float64), dim=1)
    tem = torch.tensor(10.0, dtype=torch.float64, requires_grad=True)
    out = global_kd_loss(feats, text, dist_featuremap_tem=tem)
    out.backward()
    assert tem.grad is not None and torch.isfinite(out)
    assert global_kd_loss(feats, text, dist_featuremap_pool="mean").item() != pytest.approx(out.item())
    with pytest.raises(ValueError, match="max' or 'mean"):
        global_kd_loss(feats, text, dist_featuremap_pool="sum")
    with pytest.raises(ValueError, match="level 1"):
        global_kd_loss([feats[0], feats[1][:2]], text)


# ---------------------------------------------------------------- extract_regions


def test_extract_regions_truncation_and_odd_padding() -> None:
    img = torch.full((3, 6, 8), 0.5, dtype=torch.float64)
    img[1] = -1.0
    # (-3.5, 0.9, 2.99, 1.2) -> int (-3, 0, 2, 1) -> (0, 0, 2, 1): region rows 0..1, cols 0..2 (h 2, w 3)
    out = extract_regions(img, torch.tensor([[-3.5, 0.9, 2.99, 1.2]], dtype=torch.float64))
    assert out.shape == (1, 3, 224, 224) and out.dtype == torch.float64
    # s = min(224/2, 224/3) = 74.67: 149 x 224; 75 rows of padding, the odd one on top: 38 above, 37 below
    filled = out[0, 0].abs().sum(dim=1) > 0
    assert filled.sum() == 149
    assert not filled[:38].any() and filled[38:187].all() and not filled[187:].any()
    assert torch.allclose(out[0, 0, 38:187], torch.tensor(0.5, dtype=torch.float64))
    assert torch.allclose(out[0, 1, 38:187], torch.tensor(-1.0, dtype=torch.float64))


def test_extract_regions_tall_box_pads_left() -> None:
    img = torch.ones(3, 10, 10)
    # (2, 1, 2, 3): region 3 rows x 1 col; s = min(74.67, 224) -> 224 x int(74.67) = 74; 150 columns of padding
    out = extract_regions(img, torch.tensor([[2.0, 1.0, 2.0, 3.0], [0.0, 0.0, 1.0, 2.0]]))
    cols = out[0, 0].abs().sum(dim=0) > 0
    assert cols.sum() == 74 and not cols[:75].any() and cols[75:149].all()
    # second box: 3 rows x 2 cols: s = 74.67 -> 224 x 149; 75 columns of padding: 38 left, 37 right
    cols = out[1, 0].abs().sum(dim=0) > 0
    assert cols.sum() == 149 and not cols[:38].any() and cols[38:187].all()


def test_extract_regions_bicubic_without_antialias() -> None:
    img = torch.zeros(3, 448, 448)
    img[:, ::2, ::2] = 1.0  # a fine pattern that antialiasing would smooth
    out = extract_regions(img, torch.tensor([[0.0, 0.0, 447.0, 447.0]]))
    ref = F.interpolate(img[None], size=(224, 224), mode="bicubic", align_corners=False)
    smooth = F.interpolate(img[None], size=(224, 224), mode="bicubic", align_corners=False, antialias=True)
    assert torch.allclose(out, ref)
    assert not torch.allclose(out, smooth, atol=1e-2)


def test_extract_regions_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        extract_regions(torch.ones(3, 4, 4), torch.ones(4))
    with pytest.raises(ValueError, match="empty region"):
        extract_regions(torch.ones(3, 4, 4), torch.tensor([[3.0, 3.0, 1.0, 1.0]]))


# ---------------------------------------------------------------- instance_kd_loss


def _channel_max(crops: torch.Tensor) -> torch.Tensor:
    """A stand-in image encoder: per-channel maximum of the crop, (n, 3, 224, 224) -> (n, 3)."""
    return crops.amax(dim=(2, 3))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_instance_kd_by_hand(dtype: torch.dtype) -> None:
    img = torch.zeros(2, 3, 8, 8, dtype=dtype)
    img[0] = torch.tensor([1.0, 2.0, 2.0], dtype=dtype).view(3, 1, 1)  # teacher embedding (1, 2, 2)/3
    img[1] = torch.tensor([2.0, 1.0, 2.0], dtype=dtype).view(3, 1, 1)  # teacher embedding (2, 1, 2)/3
    e = lambda *v: torch.tensor([v], dtype=dtype)  # noqa: E731
    box = lambda *v: torch.tensor([v], dtype=dtype)  # noqa: E731
    # level 0: two positives; the first IoU exactly 0.5 (kept), the second IoU 0.25 (dropped)
    embeds0 = torch.cat([e(2.0, 2.0, 1.0), e(9.0, 0.0, 0.0)])
    pred0 = torch.cat([box(0, 0, 4, 4), box(0, 0, 2, 2)])
    gt0 = torch.cat([box(0, 0, 4, 2), box(0, 0, 4, 4)])
    # level 2: one positive in image 1, identical embedding to its teacher -> distance 0
    embeds2, pred2, gt2 = e(4.0, 2.0, 4.0), box(1, 1, 5, 5), box(1, 1, 5, 5)
    empty = torch.zeros(0, 3, dtype=dtype), torch.zeros(0, 4, dtype=dtype)
    out = instance_kd_loss(
        img,
        [embeds0, empty[0], embeds2, empty[0], empty[0]],
        [pred0, empty[1], pred2, empty[1], empty[1]],
        [gt0, empty[1], gt2, empty[1], empty[1]],
        [torch.tensor([0, 0]), torch.tensor([], dtype=torch.long), torch.tensor([1]),
         torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long)],
        _channel_max,
    )
    # level 0: |(2,2,1)/3 - (1,2,2)/3| = sqrt(2)/3; level 2: mean of {0} -> 0; mean over 5 levels, weight 0.05
    assert out.dtype == dtype
    assert out.item() == pytest.approx(0.05 * math.sqrt(2) / 3 / 5, rel=1e-5)
    # nothing kept anywhere: 0 with a graph
    z = torch.zeros(1, 3, dtype=dtype, requires_grad=True)
    out = instance_kd_loss(img, [z], [box(0, 0, 1, 1)], [box(4, 4, 6, 6)], [torch.tensor([0])], _channel_max)
    assert out.item() == 0.0 and out.requires_grad


def test_instance_kd_uses_the_predicted_box_and_weight() -> None:
    img = torch.zeros(1, 3, 10, 10, dtype=torch.float64)
    img[0, :, :, 5:] = 1.0  # right half white
    seen: list[torch.Tensor] = []

    def enc(crops: torch.Tensor) -> torch.Tensor:
        seen.append(crops)
        return torch.ones(crops.shape[0], 2, dtype=crops.dtype)

    embeds = torch.tensor([[1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    out = instance_kd_loss(img, [embeds], [torch.tensor([[5.0, 0.0, 9.0, 9.0]], dtype=torch.float64)],
                           [torch.tensor([[4.0, 0.0, 9.0, 9.0]], dtype=torch.float64)], [torch.tensor([0])], enc,
                           dist_instance_weight=1.0)
    # crop of the predicted (white) box, not the GT (which includes a black column)
    assert seen[0][0, :, :, 56:168].min() > 0.99
    assert out.item() == pytest.approx(math.sqrt((1 - 1 / math.sqrt(2)) ** 2 + 0.5), rel=1e-9)
    out.backward()
    assert embeds.grad is not None

"""NDet's Bayesian-filter box correction: a noisy box fused with the teacher's confident, overlapping predictions.

For a noisy ground-truth box g of class c and teacher predictions bᵢ with scores sᵢ::

    wᵢ = 1[IoU(bᵢ, g) > iou_thr] · sᵢ        (sᵢ < score_thr counts as 0)
    ĝ  = (g + Σᵢ wᵢ bᵢ) / (1 + Σᵢ wᵢ)           coordinate-wise

so g keeps unit weight: with no confident overlapping prediction it is returned unchanged. NDet's other rules
(``adapt_cfg`` of ``fcos_noise_head.py``): ``rule="step"`` with ``ratio`` r gives wᵢ = 1[IoU > iou_thr]·r²·sᵢ;
``rule="exp"`` gives wᵢ = 1[IoU > iou_thr]·exp(−(1 − IoU)²/σ)·sᵢ (NDet's defaults there: iou_thr 0.01,
σ = 0.025); ``topk`` = k keeps only each box's k largest weights. ĝ is a convex
combination of g and the bᵢ, so it has positive width and height whenever g does (predictions with inverted
corners are never used: their IoU is 0).

The arithmetic runs in float32 (float64 inputs stay float64) with autocast switched off, so an enclosing
bf16-mixed autocast cannot round ``weights @ boxes`` to bf16 (several pixels on a 1000 px box).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import box_iou

from vislite_detection.ndet.precision import box_dtype, full_precision

IOU_THR = 0.7
SCORE_THR = 0.05
FUSION_RULES = ("step", "exp")


def _check_boxes(name: str, boxes: Tensor) -> None:
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape [N, 4] (x1, y1, x2, y2), got {tuple(boxes.shape)}")


def fusion_weights(
    iou: Tensor,
    scores: Tensor,
    *,
    iou_thr: float = IOU_THR,
    score_thr: float = SCORE_THR,
    rule: str = "step",
    ratio: float = 1.0,
    sigma: float = 0.025,
) -> Tensor:
    """wᵢ = 1[IoU > iou_thr] · 1[s ≥ score_thr] · s · (r² for ``"step"``, exp(−(1 − IoU)²/σ) for ``"exp"``),
    elementwise (any matching shapes)."""
    if rule not in FUSION_RULES:
        raise ValueError(f"fusion rule must be one of {FUSION_RULES}, got {rule!r}")
    kept = torch.where((iou > iou_thr) & (scores >= score_thr), scores, torch.zeros_like(scores))
    if rule == "exp":
        return kept * torch.exp(-((1 - iou) ** 2) / sigma)
    return kept if ratio == 1.0 else kept * ratio**2


def keep_topk(weights: Tensor, topk: int | None) -> Tensor:
    """``weights`` [G, P] with all but each row's ``topk`` largest set to 0 (unchanged when ``topk`` is None)."""
    if topk is None or topk >= weights.shape[-1]:
        return weights
    if topk < 1:
        raise ValueError(f"topk must be a positive integer or None, got {topk}")
    top = weights.topk(topk, dim=-1)
    return torch.zeros_like(weights).scatter_(-1, top.indices, top.values)


def fuse(gt_boxes: Tensor, weighted_sum: Tensor, total_weight: Tensor) -> Tensor:
    """ĝ = (g + Σ wᵢ bᵢ) / (1 + Σ wᵢ) from ``weighted_sum`` [G, 4] = Σ wᵢ bᵢ and ``total_weight`` [G] = Σ wᵢ.

    A fused box that came out degenerate through rounding (never in exact arithmetic) falls back to g.
    """
    fused = (gt_boxes + weighted_sum) / (1.0 + total_weight[:, None])
    valid = (fused[:, 2] > fused[:, 0]) & (fused[:, 3] > fused[:, 1])
    return torch.where(valid[:, None], fused, gt_boxes)


def correct_boxes(
    gt_boxes: Tensor,
    gt_labels: Tensor,
    pred_boxes: Tensor,
    pred_cls_prob: Tensor,
    pred_ctr_prob: Tensor,
    iou_thr: float = IOU_THR,
    score_thr: float = SCORE_THR,
    *,
    rule: str = "step",
    ratio: float = 1.0,
    sigma: float = 0.025,
    topk: int | None = None,
) -> Tensor:
    """Correct noisy boxes with a one-stage teacher's pre-NMS predictions (NDet's FCOS rule).

    Args:
        gt_boxes: [G, 4] noisy boxes, x1 y1 x2 y2.
        gt_labels: [G] class indices into the columns of ``pred_cls_prob``.
        pred_boxes: [P, 4] decoded teacher boxes, x1 y1 x2 y2 (all locations, before NMS).
        pred_cls_prob: [P, C] class probabilities (after the sigmoid).
        pred_ctr_prob: [P] or [P, 1] centerness probabilities (after the sigmoid).
        iou_thr: a prediction counts only if its IoU with the box is strictly above this.
        score_thr: predictions with sᵢ = σ(cls of g's class) · σ(ctr) below this are dropped.
        rule, ratio, sigma, topk: NDet's fusion variants (see the module docstring).

    Returns:
        [G, 4] corrected boxes, in the dtype of ``gt_boxes`` (computed in float32 or float64, never under
        autocast).
    """
    _check_boxes("gt_boxes", gt_boxes)
    _check_boxes("pred_boxes", pred_boxes)
    num_preds = pred_boxes.shape[0]
    if pred_cls_prob.ndim != 2 or pred_cls_prob.shape[0] != num_preds:
        raise ValueError(f"pred_cls_prob must have shape [{num_preds}, C], got {tuple(pred_cls_prob.shape)}")
    ctr = pred_ctr_prob.reshape(-1)
    if ctr.shape[0] != num_preds:
        raise ValueError(f"pred_ctr_prob must hold {num_preds} values, got {tuple(pred_ctr_prob.shape)}")
    if gt_labels.shape != gt_boxes.shape[:1]:
        raise ValueError(f"gt_labels must have shape [{gt_boxes.shape[0]}], got {tuple(gt_labels.shape)}")
    if gt_boxes.shape[0] == 0 or num_preds == 0:
        return gt_boxes.clone()
    if int(gt_labels.max()) >= pred_cls_prob.shape[1] or int(gt_labels.min()) < 0:
        raise ValueError(f"gt_labels must index the {pred_cls_prob.shape[1]} columns of pred_cls_prob")
    dtype = box_dtype(gt_boxes)
    with full_precision(gt_boxes.device):
        gt, boxes = gt_boxes.to(dtype), pred_boxes.to(dtype)
        scores = (pred_cls_prob.to(dtype)[:, gt_labels] * ctr.to(dtype)[:, None]).t()  # [G, P]
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])  # inverted or empty ones never count
        iou = torch.where(valid[None, :], box_iou(gt, boxes), torch.zeros((), dtype=dtype))  # [G, P]
        weights = fusion_weights(
            iou, scores, iou_thr=iou_thr, score_thr=score_thr, rule=rule, ratio=ratio, sigma=sigma
        )  # [G, P]
        weights = keep_topk(weights, topk)
        return fuse(gt, weights @ boxes, weights.sum(dim=1)).to(gt_boxes.dtype)


def correct_boxes_per_gt(
    gt_boxes: Tensor,
    cand_boxes: Tensor,
    cand_scores: Tensor,
    iou_thr: float = IOU_THR,
    score_thr: float = SCORE_THR,
    *,
    rule: str = "step",
    ratio: float = 1.0,
    sigma: float = 0.025,
    topk: int | None = None,
) -> Tensor:
    """The same fusion with per-box candidates: ``cand_boxes`` [G, R, 4] and ``cand_scores`` [G, R] (e.g. a
    two-stage teacher's class-specific refinements of its proposals, scored for each box's class)."""
    _check_boxes("gt_boxes", gt_boxes)
    if cand_boxes.ndim != 3 or cand_boxes.shape[0] != gt_boxes.shape[0] or cand_boxes.shape[-1] != 4:
        raise ValueError(f"cand_boxes must have shape [{gt_boxes.shape[0]}, R, 4], got {tuple(cand_boxes.shape)}")
    if cand_scores.shape != cand_boxes.shape[:2]:
        raise ValueError(f"cand_scores must have shape {tuple(cand_boxes.shape[:2])}, got {tuple(cand_scores.shape)}")
    if gt_boxes.shape[0] == 0 or cand_boxes.shape[1] == 0:
        return gt_boxes.clone()
    dtype = box_dtype(gt_boxes)
    with full_precision(gt_boxes.device):
        gt, boxes, scores = gt_boxes.to(dtype), cand_boxes.to(dtype), cand_scores.to(dtype)
        iou = pairwise_iou(gt[:, None, :].expand_as(boxes), boxes)  # [G, R]
        weights = fusion_weights(iou, scores, iou_thr=iou_thr, score_thr=score_thr, rule=rule, ratio=ratio, sigma=sigma)
        weights = keep_topk(weights, topk)  # [G, R]
        return fuse(gt, torch.einsum("gr,grk->gk", weights, boxes), weights.sum(dim=1)).to(gt_boxes.dtype)


def pairwise_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of corresponding boxes ``a[..., i]`` and ``b[..., i]`` (shapes [..., 4]); 0 for empty unions."""
    wh = (torch.minimum(a[..., 2:], b[..., 2:]) - torch.maximum(a[..., :2], b[..., :2])).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[..., 2] - a[..., 0]).clamp(min=0) * (a[..., 3] - a[..., 1]).clamp(min=0)
    area_b = (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)
    union = area_a + area_b - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(union))

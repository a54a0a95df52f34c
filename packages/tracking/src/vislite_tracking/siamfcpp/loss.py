"""SiamFC++ training losses, as video_analyst computes them: sigmoid focal loss on the classification logits,
BCE-with-logits centerness, and the -log IoU box loss with +1-pixel box areas."""

from __future__ import annotations

import torch
import torch.nn.functional as F

TINY = float(torch.finfo(torch.float32).tiny)  # video_analyst's SafeLog floor, also for float64 inputs


def safe_log(value: torch.Tensor) -> torch.Tensor:
    """``log(max(value, float32 tiny))``."""
    return torch.log(torch.clamp(value, min=TINY))


def focal_loss(
    cls_pred: torch.Tensor, cls_gt: torch.Tensor, *, alpha: float = 0.75, gamma: float = 2.0
) -> torch.Tensor:
    """``-sum(α (1-p)^γ y log p + (1-α) p^γ (1-y) log(1-p)) / max(#pos, 1)`` over the batch; ``cls_pred``
    (B, N, 1) logits, ``cls_gt`` (B, N, 1) in {-1 (ignored), 0, 1}."""
    gt = cls_gt.to(cls_pred.dtype)
    valid = (gt != -1).to(cls_pred.dtype)
    onehot = (gt > 0).to(cls_pred.dtype)
    p = torch.sigmoid(cls_pred)
    pos = (1 - p) ** gamma * onehot * safe_log(p)
    neg = p**gamma * (1 - onehot) * safe_log(1 - p)
    loss = -(alpha * pos + (1 - alpha) * neg).sum(dim=2) * valid.squeeze(2)  # (B, N)
    return loss.sum() / torch.clamp(onehot.sum(), min=1.0)


def centerness_loss(ctr_pred: torch.Tensor, ctr_gt: torch.Tensor) -> torch.Tensor:
    """BCE-with-logits of (B, N, 1) centerness logits on the locations whose target is non-zero, averaged."""
    gt = ctr_gt.to(ctr_pred.dtype)
    mask = (gt != 0).to(ctr_pred.dtype)
    loss = F.binary_cross_entropy_with_logits(ctr_pred, gt, reduction="none") * mask
    return loss.sum() / torch.clamp(mask.sum(), min=1.0)


def pixel_iou(box_pred: torch.Tensor, box_gt: torch.Tensor) -> torch.Tensor:
    """IoU of (..., 4) xyxy boxes with ``+1`` widths and heights (video_analyst's ``IOULoss``), clamped at 0."""
    area_gt = torch.abs(box_gt[..., 2] - box_gt[..., 0] + 1) * torch.abs(box_gt[..., 3] - box_gt[..., 1] + 1)
    area_pred = torch.abs(box_pred[..., 2] - box_pred[..., 0] + 1) * torch.abs(box_pred[..., 3] - box_pred[..., 1] + 1)
    iw = torch.minimum(box_pred[..., 2], box_gt[..., 2]) - torch.maximum(box_pred[..., 0], box_gt[..., 0]) + 1
    ih = torch.minimum(box_pred[..., 3], box_gt[..., 3]) - torch.maximum(box_pred[..., 1], box_gt[..., 1]) + 1
    inter = torch.clamp(iw, min=0) * torch.clamp(ih, min=0)
    return torch.clamp(inter / (area_gt + area_pred - inter), min=0)


def iou_loss(box_pred: torch.Tensor, box_gt: torch.Tensor, cls_gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean -log max(IoU, tiny), mean IoU)`` over the positive locations (``cls_gt`` not 0 and not -1);
    ``box_pred`` / ``box_gt`` (B, N, 4) xyxy."""
    gt = box_gt.to(box_pred.dtype)
    mask = ((cls_gt != 0) & (cls_gt != -1)).squeeze(2)  # (B, N)
    count = torch.clamp(mask.sum().to(box_pred.dtype), min=1.0)
    iou = pixel_iou(box_pred, gt)
    zero = torch.zeros((), dtype=box_pred.dtype, device=box_pred.device)
    loss = torch.where(mask, -safe_log(iou), zero).sum() / count
    mean_iou = torch.where(mask, iou.detach(), zero).sum() / count
    return loss, mean_iou

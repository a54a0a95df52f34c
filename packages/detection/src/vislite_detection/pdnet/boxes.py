"""PDNet's box conventions: decoding (``inference.py``), the GIoU loss (``loss.py`` ``iou_loss``) and ``ml_nms``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchvision.ops import batched_nms


def decode_boxes(reg_boxes: Tensor, *, stride: float, image_size: Sequence[int]) -> Tensor:
    """One level's boxes in image pixels, as ``PDNetPostProcessor`` decodes them: ``[4,H,W]`` -> ``[H*W,4]``.

    ``reg_boxes`` are (t, l, b, r) edges in grid units of the level; ``image_size`` is (h, w). Each edge is
    multiplied by ``stride`` and capped at h (t, b) or w (l, r); the result is reordered to (x1, y1, x2, y2) =
    (l, t, r, b); ``x2 = max(x1, x2)``, ``y2 = max(y1, y2)``; then x is clamped to ``[0, w-1]`` and y to
    ``[0, h-1]`` (``clip_to_image`` with its ``TO_REMOVE = 1``). Cells come out row-major.
    """
    if reg_boxes.dim() != 3 or reg_boxes.shape[0] != 4:
        raise ValueError(f"decode_boxes: reg_boxes must have shape [4, H, W], got {tuple(reg_boxes.shape)}")
    if len(image_size) != 2:
        raise ValueError(f"decode_boxes: image_size must be (h, w), got {image_size}")
    h, w = float(image_size[0]), float(image_size[1])
    boxes = reg_boxes.permute(1, 2, 0).reshape(-1, 4) * stride  # [H*W, 4] (t, l, b, r) pixels
    boxes = torch.min(boxes, boxes.new_tensor([h, w, h, w]))
    boxes = boxes[:, (1, 0, 3, 2)]  # (x1, y1, x2, y2)
    boxes = torch.cat([boxes[:, :2], torch.max(boxes[:, :2], boxes[:, 2:])], dim=1)
    low = boxes.new_zeros(4)
    high = boxes.new_tensor([w - 1, h - 1, w - 1, h - 1])
    return torch.max(torch.min(boxes, high), low)


def giou_loss(pred: Tensor, target: Tensor, *, discard_abnormal: bool = True) -> Tensor:
    """PDNet's per-box GIoU loss ``1 - GIoU`` (``iou_loss``): ``[N,4]``, ``[N,4]`` -> ``[N]``.

    Boxes are (y1, x1, y2, x2) or (x1, y1, x2, y2), the same in both. Areas and intersections have no "+1" but
    ``IoU = (inter + 1) / (union + 1)``; the enclosing area gets ``+1e-7``. With ``discard_abnormal`` a predicted
    box with an inverted corner pair has GIoU 0 (loss 1, no gradient).
    """
    target_area = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    pred_area = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    inter_a = torch.min(pred[:, 2], target[:, 2]) - torch.max(pred[:, 0], target[:, 0])
    inter_b = torch.min(pred[:, 3], target[:, 3]) - torch.max(pred[:, 1], target[:, 1])
    hull_a = torch.max(pred[:, 2], target[:, 2]) - torch.min(pred[:, 0], target[:, 0])
    hull_b = torch.max(pred[:, 3], target[:, 3]) - torch.min(pred[:, 1], target[:, 1])
    hull = hull_a * hull_b + 1e-7
    inter = inter_a.clamp(min=0) * inter_b.clamp(min=0)
    union = target_area + pred_area - inter
    iou = (inter + 1.0) / (union + 1.0)
    giou = iou - (hull - union) / hull
    if discard_abnormal:
        abnormal = (pred[:, 0] > pred[:, 2]) | (pred[:, 1] > pred[:, 3])
        giou = torch.where(abnormal, torch.zeros_like(giou), giou)
    return 1 - giou


def ml_nms(boxes: Tensor, scores: Tensor, labels: Tensor, iou_threshold: float) -> Tensor:
    """Class-aware NMS with "+1" areas (PDNet's ``ml_nms``): kept indices by decreasing score.

    A box is suppressed by a higher-scoring one of the same label when their IoU is ``> iou_threshold``, with
    widths ``x2 - x1 + 1`` (so boxes shifted by ``+1`` at x2, y2 give torchvision's ``batched_nms`` exactly).
    """
    if iou_threshold <= 0:
        return torch.argsort(scores, descending=True)
    shifted = torch.cat([boxes[:, :2], boxes[:, 2:] + 1], dim=1)
    return batched_nms(shifted.float(), scores.float(), labels, iou_threshold)


def keep_top_scores(scores: Tensor, limit: int) -> Tensor:
    """Indices kept by the ``kthvalue`` cut of ``select_over_all_levels``: scores ``>=`` the ``limit``-th largest.

    Ties at the cut keep every tied box, so more than ``limit`` may remain (the official behaviour).
    """
    count = scores.numel()
    if limit <= 0 or count <= limit:
        return torch.arange(count, device=scores.device)
    threshold = torch.kthvalue(scores.cpu(), count - limit + 1).values.item()
    return torch.nonzero(scores >= threshold).squeeze(1)

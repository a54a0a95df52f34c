"""RDSNet's training targets: MaxIoU anchor assignment and the mask sampler."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.models.detection._utils import Matcher
from torchvision.ops import box_iou


def assign_anchors(matcher: Matcher, anchors: Tensor, gt_boxes: Tensor) -> Tensor:
    """Per anchor [A]: the index of its GT box, ``-1`` background, ``-2`` ignored (between the thresholds)."""
    if gt_boxes.numel() == 0:
        return torch.full((anchors.shape[0],), Matcher.BELOW_LOW_THRESHOLD, dtype=torch.int64, device=anchors.device)
    return matcher(box_iou(gt_boxes, anchors))  # IoU [G, A]


def sample_mask_instances(
    positive: Tensor, assigned: Tensor, mask_areas: Tensor, *, max_instances: int = 100, min_area: float = 100.0
) -> Tensor:
    """Indices of the positive anchors that train masks: GTs of area <= ``min_area`` px dropped, then at most
    ``max_instances`` drawn at random (the official ``mask_sampler``).

    ``positive`` [P] anchor indices, ``assigned`` [P] their GT indices, ``mask_areas`` [G] GT mask pixel counts.
    """
    keep = mask_areas[assigned] > min_area
    positive = positive[keep]
    order = torch.randperm(positive.shape[0], device=positive.device)[:max_instances]
    return positive[order]

"""CenterNet focal loss on a Gaussian heat-map (OSTrack ``FocalLoss``, alpha 2, beta 4)."""

from __future__ import annotations

import torch


def centernet_focal_loss(
    prediction: torch.Tensor, target: torch.Tensor, *, alpha: float = 2.0, beta: float = 4.0
) -> torch.Tensor:
    """``-(sum_pos log(p) (1-p)^a + sum_neg log(1-p) p^a (1-y)^b) / #pos`` (``/1`` when there is no positive).

    Positives are cells with target exactly 1; ``prediction`` holds probabilities (clamped below at 1e-12).
    """
    positive = target.eq(1).float()
    negative = target.lt(1).float()
    p = prediction.clamp(min=1e-12)
    pos_loss = (torch.log(p) * (1 - p) ** alpha * positive).sum()
    neg_loss = (torch.log(1 - p) * p**alpha * (1 - target) ** beta * negative).sum()
    num_pos = positive.sum()
    if num_pos == 0:
        return -neg_loss
    return -(pos_loss + neg_loss) / num_pos

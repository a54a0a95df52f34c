"""PDNet's losses (``PDNetLossComputation``): coarse GIoU, focal classification and GIoU on the collected boxes."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchvision.ops import sigmoid_focal_loss

from vislite_detection.pdnet.assign import PDNET_STRIDES, assign_coarse_targets, assign_final_targets
from vislite_detection.pdnet.boxes import giou_loss


def flatten_levels(maps: Sequence[Tensor]) -> Tensor:
    """Per-level ``[N, C, H, W]`` maps -> ``[N, G, C]``, cells level-major then row-major."""
    return torch.cat([m.permute(0, 2, 3, 1).reshape(m.shape[0], -1, m.shape[1]) for m in maps], dim=1)


class PDNetLoss:
    """The three PDNet losses for a batch, each normalised as the official code does (single process).

    ``coarse``: GIoU x ``coarse_weight`` over the coarse positives (:func:`assign_coarse_targets`) / their count;
    ``classification``: sigmoid focal loss (``alpha``, ``gamma``) over positives and negatives of
    :func:`assign_final_targets` / #positives; ``regression``: GIoU x ``reg_weight`` over those positives /
    #positives. Counts are clamped at 1. Boxes are compared in pixels as (y1, x1, y2, x2).
    """

    def __init__(
        self,
        *,
        strides: Sequence[int] = PDNET_STRIDES,
        alpha: float = 0.25,
        gamma: float = 2.0,
        coarse_weight: float = 0.5,
        reg_weight: float = 2.0,
        pos_iou_thr: float = 0.6,
        neg_iou_thr: float = 0.6,
    ) -> None:
        self.strides = tuple(int(s) for s in strides)
        self.alpha, self.gamma = alpha, gamma
        self.coarse_weight, self.reg_weight = coarse_weight, reg_weight
        self.pos_iou_thr, self.neg_iou_thr = pos_iou_thr, neg_iou_thr

    def __call__(
        self,
        outputs: dict[str, list[Tensor]],
        targets: Sequence[dict[str, Tensor]],
        image_sizes: Sequence[Sequence[int]],
    ) -> dict[str, Tensor]:
        sizes = [tuple(m.shape[-2:]) for m in outputs["cls_logits"]]
        if len(sizes) != len(self.strides):
            raise ValueError(f"PDNetLoss: {len(sizes)} feature levels for strides {self.strides}")
        cls = flatten_levels(outputs["cls_logits"])  # [N, G, K]
        coarse = flatten_levels(outputs["coarse_boxes"])  # [N, G, 4]
        reg = flatten_levels(outputs["reg_boxes"])  # [N, G, 4]
        cell_strides = torch.cat([cls.new_full((h * w,), float(s)) for (h, w), s in zip(sizes, self.strides)])  # [G]
        coarse_terms, reg_terms, cls_terms = [], [], []
        num_coarse = num_pos = 0
        for i, (target, image_size) in enumerate(zip(targets, image_sizes)):
            boxes = target["boxes"].to(cls.dtype)
            labels = target["labels"]
            if labels.numel() and (labels.min() < 1 or labels.max() > cls.shape[2]):
                raise ValueError(f"target labels must be in 1..{cls.shape[2]}, got {labels.tolist()}")
            yx = boxes[:, (1, 0, 3, 2)]
            step1 = assign_coarse_targets(boxes, image_size, sizes, strides=self.strides)
            pos1 = torch.nonzero(step1 >= 0).squeeze(1)
            coarse_px = coarse[i, pos1] * cell_strides[pos1, None]
            coarse_terms.append(giou_loss(coarse_px, yx[step1[pos1]]))
            num_coarse += pos1.numel()
            step2 = assign_final_targets(
                coarse[i].detach(),
                boxes,
                image_size,
                sizes,
                strides=self.strides,
                pos_iou_thr=self.pos_iou_thr,
                neg_iou_thr=self.neg_iou_thr,
            )
            pos2 = torch.nonzero(step2 >= 0).squeeze(1)
            reg_px = reg[i, pos2] * cell_strides[pos2, None]
            reg_terms.append(giou_loss(reg_px, yx[step2[pos2]]))
            num_pos += pos2.numel()
            used = step2 >= -1  # positives and negatives; ignored and padding cells add nothing
            onehot = torch.zeros_like(cls[i])
            onehot[pos2, labels[step2[pos2]] - 1] = 1.0
            cls_terms.append(sigmoid_focal_loss(cls[i, used], onehot[used], self.alpha, self.gamma, reduction="sum"))
        return {
            "classification": torch.stack(cls_terms).sum() / max(1, num_pos),
            "coarse": torch.cat(coarse_terms).sum() / max(1, num_coarse) * self.coarse_weight,
            "regression": torch.cat(reg_terms).sum() / max(1, num_pos) * self.reg_weight,
        }

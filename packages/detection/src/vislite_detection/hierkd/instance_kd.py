"""Instance-level distillation: detector embeddings of well-localised positives ↔ teacher embeddings of crops."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from vislite_detection.hierkd.logits import l2_normalise
from vislite_detection.hierkd.regions import extract_regions


def aligned_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """IoU of row-aligned boxes (N, 4) x1y1x2y2, areas without "+1", union floored at ``eps`` (mmdet 2.x)."""
    lt = torch.max(a[:, :2], b[:, :2])
    rb = torch.min(a[:, 2:], b[:, 2:])
    wh = (rb - lt).clamp(min=0)
    overlap = wh[:, 0] * wh[:, 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = torch.clamp(area_a + area_b - overlap, min=eps)
    return overlap / union


def instance_kd_loss(
    img: torch.Tensor,
    pos_embeds: Sequence[torch.Tensor],
    pos_pred_boxes: Sequence[torch.Tensor],
    pos_gt_boxes: Sequence[torch.Tensor],
    pos_img_inds: Sequence[torch.Tensor],
    encode_image: Callable[[torch.Tensor], torch.Tensor],
    *,
    instance_iou_thresh: float = 0.5,
    dist_instance_weight: float = 0.05,
) -> torch.Tensor:
    """(1/L) Σ_l weight · mean_kept ‖e_det − e_teacher‖₂ over the L FPN levels.

    Per level: positives' embeddings (P, D), decoded predicted boxes (P, 4), their GT boxes (P, 4) and image
    indices (P,) into ``img`` (B, 3, H, W). Kept: IoU(pred, GT) ≥ ``instance_iou_thresh``. The predicted boxes
    are cropped by :func:`extract_regions`, encoded by ``encode_image`` ((n, 3, 224, 224) → (n, D)); both
    embeddings are normalised as x/(‖x‖+1e-10). A level with nothing kept contributes 0.
    """
    levels = len(pos_embeds)
    if not (levels == len(pos_pred_boxes) == len(pos_gt_boxes) == len(pos_img_inds)) or levels == 0:
        raise ValueError(
            "pos_embeds, pos_pred_boxes, pos_gt_boxes and pos_img_inds must be equally long, non-empty level lists"
        )
    total = None
    for embeds, pred, gt, inds in zip(pos_embeds, pos_pred_boxes, pos_gt_boxes, pos_img_inds):
        level = embeds.sum() * 0
        if embeds.shape[0] > 0:
            keep = torch.nonzero(aligned_iou(pred.detach(), gt) >= instance_iou_thresh).squeeze(1)
            if len(keep) > 0:
                boxes = pred.detach()[keep]
                img_ind = inds[keep].tolist()
                crops = torch.cat(
                    [extract_regions(img[i], boxes[k : k + 1]) for k, i in enumerate(img_ind)], dim=0
                )  # (n, 3, 224, 224)
                teacher = l2_normalise(encode_image(crops).to(embeds.dtype))
                student = l2_normalise(embeds[keep])
                level = dist_instance_weight * (student - teacher).norm(dim=-1).mean()
        total = level / levels if total is None else total + level / levels
    return total

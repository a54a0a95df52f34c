"""RDSNet's mask loss: cropped two-class cross-entropy with per-instance OHEM."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from vislite_detection.rdsnet.correlation import correlate
from vislite_detection.rdsnet.crop import crop_window


def downsample_gt_masks(gt_masks: Tensor, height: int, width: int) -> Tensor:
    """GT masks [N, H, W] in {0, 1} -> [N, height, width] at the mask stride.

    As the official code: unchanged when the scale is 1, else bilinear (align_corners=False)
    with the scale factor ``height / H`` and a strict ``> 0.5`` threshold.
    """
    n, big_h, big_w = gt_masks.shape
    if (big_h, big_w) == (height, width):
        return gt_masks
    scale = height / big_h
    masks = gt_masks.unsqueeze(0)  # [1, N, H, W]
    if int(big_h * scale) == height and int(big_w * scale) == width:
        small = F.interpolate(masks, scale_factor=scale, mode="bilinear", align_corners=False)
    else:
        small = F.interpolate(masks, size=(height, width), mode="bilinear", align_corners=False)
    return (small.squeeze(0) > 0.5).to(gt_masks.dtype)


def _ohem(pixel_loss: Tensor, labels: Tensor, kept: Tensor, pos_neg_ratio: float) -> tuple[Tensor, Tensor]:
    """Keep per instance every positive and the ``pos_neg_ratio * #pos`` hardest negatives.

    ``pixel_loss`` [N, L], ``labels`` [N, L] in {-1, 0, 1}, ``kept`` [N, L] bool crop window.
    Returns the loss and the kept-pixel mask with the dropped negatives zeroed.
    """
    not_neg = labels != 0
    neg_loss = pixel_loss.detach().masked_fill(not_neg, 0)
    order = torch.sort(neg_loss, dim=1, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    num_pos = (labels == 1).sum(dim=1, keepdim=True)
    num_neg = torch.clamp(pos_neg_ratio * num_pos, max=labels.shape[1] - 1)
    dropped = (rank >= num_neg) & ~not_neg
    return pixel_loss.masked_fill(dropped, 0), kept & ~dropped


def _instance_losses(
    logits: Tensor, targets: Tensor, window: Tensor, use_mask_ohem: bool, pos_neg_ratio: float
) -> Tensor:
    """Per-instance normalised losses [N] from ``logits`` [N, 2, h, w], ``targets`` [N, h, w]."""
    n = logits.shape[0]
    labels = targets.long().masked_fill(~window, -1)  # pixels outside the crop are ignored
    pixel_loss = F.cross_entropy(logits, labels, reduction="none", ignore_index=-1).view(n, -1)  # [N, h*w]
    labels = labels.view(n, -1)
    kept = window.view(n, -1)
    if use_mask_ohem:
        pixel_loss, kept = _ohem(pixel_loss, labels, kept, pos_neg_ratio)
    return pixel_loss.sum(dim=1) / (kept.sum(dim=1).to(pixel_loss.dtype) + 1)


def mask_loss(
    pixel_reps: Sequence[Tensor],
    obj_reps: Sequence[Tensor],
    gt_boxes: Sequence[Tensor],
    gt_masks: Sequence[Tensor],
    *,
    padding: float | None = 0.25,
    use_mask_ohem: bool = True,
    pos_neg_ratio: float = 1,
    loss_weight: float = 1.0,
) -> Tensor:
    """RDSNet's training mask loss over a batch (0-d tensor in the representations' dtype).

    Per image b: ``pixel_reps[b]`` [D, h, w] covers the padded image at the mask stride
    (s = h / H), ``obj_reps[b]`` [N_b, 2, D] ([:, 0] background, [:, 1] foreground),
    ``gt_boxes[b]`` [N_b, 4] x1, y1, x2, y2 in input pixels, ``gt_masks[b]`` [N_b, H, W] in {0, 1}.
    Boxes·s crop each instance (padding as a fraction of the "+1" size, truncated edges); the
    cross-entropy of the kept pixels is divided by (kept + 1) per instance, summed, and the
    total divided by (#instances + 1).
    """
    if not (len(pixel_reps) == len(obj_reps) == len(gt_boxes) == len(gt_masks)):
        raise ValueError(
            "mask_loss: pixel_reps, obj_reps, gt_boxes and gt_masks must have one entry per image, got "
            f"{len(pixel_reps)}, {len(obj_reps)}, {len(gt_boxes)}, {len(gt_masks)}"
        )
    if len(pixel_reps) == 0:
        raise ValueError("mask_loss: empty batch")
    total = pixel_reps[0].new_zeros(())
    num_instances = 0
    for b, (pix, obj, boxes, masks) in enumerate(zip(pixel_reps, obj_reps, gt_boxes, gt_masks)):
        n = obj.shape[0]
        if boxes.shape != (n, 4) or masks.dim() != 3 or masks.shape[0] != n:
            raise ValueError(
                f"mask_loss: image {b}: expected gt_boxes [{n}, 4] and gt_masks [{n}, H, W] for "
                f"obj_reps [{n}, 2, D], got {tuple(boxes.shape)} and {tuple(masks.shape)}"
            )
        if n == 0:
            continue
        h, w = pix.shape[-2:]
        big_h, big_w = masks.shape[-2:]
        scale = h / big_h
        if abs(w / big_w - scale) > 1e-9:
            raise ValueError(f"mask_loss: image {b}: pixel_reps {h}x{w} and gt_masks {big_h}x{big_w} differ in aspect")
        logits = correlate(pix, obj)  # [N, 2, h, w]
        targets = downsample_gt_masks(masks.to(logits.dtype), h, w)  # [N, h, w]
        window = crop_window(boxes.to(logits.dtype) * scale, h, w, padding)
        total = total + _instance_losses(logits, targets, window, use_mask_ohem, pos_neg_ratio).sum()
        num_instances += n
    return total / (num_instances + 1) * loss_weight

"""ATSS (adaptive training sample selection) for one square anchor per location, as mmdetection 2.x assigns it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.ops import box_iou

ATSS_STRIDES = (8, 16, 32, 64, 128)
OCTAVE_BASE_SCALE = 8


def level_anchors(
    sizes: Sequence[tuple[int, int]],
    strides: Sequence[int] = ATSS_STRIDES,
    *,
    octave_base_scale: int = OCTAVE_BASE_SCALE,
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> list[torch.Tensor]:
    """Per level (H_l·W_l, 4) XYXY anchors, rows ordered (y, x): side ``octave_base_scale·stride`` centred on
    (x·stride, y·stride) (mmdetection 2.x's ``center_offset=0``)."""
    if len(sizes) != len(strides):
        raise ValueError(f"{len(sizes)} feature maps but {len(strides)} strides")
    out = []
    for (h, w), stride in zip(sizes, strides):
        half = octave_base_scale * stride / 2
        ys = torch.arange(h, device=device, dtype=dtype) * stride
        xs = torch.arange(w, device=device, dtype=dtype) * stride
        cy, cx = torch.meshgrid(ys, xs, indexing="ij")  # (H, W)
        centres = torch.stack((cx.reshape(-1), cy.reshape(-1)), dim=1)  # (H·W, 2)
        out.append(torch.cat((centres - half, centres + half), dim=1))
    return out


def atss_assign(
    anchors: Sequence[torch.Tensor], gt_boxes: torch.Tensor, *, topk: int = 9
) -> tuple[torch.Tensor, torch.Tensor]:
    """ATSS for one image: ``(gt_index, max_iou)`` per anchor over the concatenated levels (−1 = background).

    Candidates: per level the ``topk`` anchors nearest (centre distance) to each GT; threshold = mean + std
    (unbiased) of the candidates' IoUs; positive when IoU ≥ threshold and the anchor centre lies inside the GT
    (all four distances > 0.01). An anchor positive for several GTs takes the one of highest IoU.
    """
    all_anchors = torch.cat(list(anchors), dim=0)  # (A, 4)
    num_anchors = all_anchors.shape[0]
    assigned = torch.full((num_anchors,), -1, dtype=torch.long, device=all_anchors.device)
    best = all_anchors.new_zeros(num_anchors)
    if gt_boxes.numel() == 0 or num_anchors == 0:
        return assigned, best
    gt_boxes = gt_boxes.to(all_anchors.dtype)
    overlaps = box_iou(all_anchors, gt_boxes)  # (A, G)
    a_c = (all_anchors[:, :2] + all_anchors[:, 2:]) / 2.0
    g_c = (gt_boxes[:, :2] + gt_boxes[:, 2:]) / 2.0
    distances = (a_c[:, None, :] - g_c[None, :, :]).pow(2).sum(-1).sqrt()  # (A, G)
    candidates, start = [], 0
    for level in anchors:
        n = level.shape[0]
        k = min(topk, n)
        _, idx = distances[start : start + n].topk(k, dim=0, largest=False)  # (k, G)
        candidates.append(idx + start)
        start += n
    candidates = torch.cat(candidates, dim=0)  # (K, G)
    num_gt = gt_boxes.shape[0]
    cand_iou = overlaps[candidates, torch.arange(num_gt, device=overlaps.device)]  # (K, G)
    threshold = cand_iou.mean(0) + cand_iou.std(0)
    is_pos = cand_iou >= threshold[None, :]
    cx = a_c[candidates, 0]  # (K, G)
    cy = a_c[candidates, 1]
    inside = torch.stack(
        (cx - gt_boxes[:, 0], cy - gt_boxes[:, 1], gt_boxes[:, 2] - cx, gt_boxes[:, 3] - cy), dim=0
    ).amin(0) > 0.01
    is_pos &= inside
    masked = torch.full_like(overlaps, float("-inf"))  # (A, G)
    gt_cols = torch.arange(num_gt, device=overlaps.device).expand_as(candidates)
    keep = is_pos.reshape(-1)
    rows, cols = candidates.reshape(-1)[keep], gt_cols.reshape(-1)[keep]
    masked[rows, cols] = overlaps[rows, cols]
    max_iou, argmax = masked.max(dim=1)
    pos = max_iou != float("-inf")
    assigned[pos] = argmax[pos]
    best[pos] = max_iou[pos]
    return assigned, best

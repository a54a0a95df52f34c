"""PDNet's two target assigners (``loss.py`` ``PDNetLossComputation``), one image at a time.

Cells are ordered level-major, then row-major inside a level; cell ``(y, x)`` of a level of stride ``s`` sits at
pixel ``(y*s, x*s)``. Both assigners return one ``Long`` per cell: the index of the assigned ground-truth box,
``-1`` for a negative, ``-2`` for an ignored cell. Cells of the batch-padding region (``y >= ceil(h/32)*32/s`` or
``x >= ceil(w/32)*32/s``, the official rule with its fixed 32) are always ``-2``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

PDNET_STRIDES = (8, 16, 32, 64, 128)
INVERTED_IOU = -2e8
"""IoU given to coarse boxes with inverted corners (``BBOX_IOU_DISCARD_ABNORMAL_BBOX``)."""


def _check_boxes(name: str, boxes: Tensor, field: str) -> None:
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name}: {field} must have shape [N, 4], got {tuple(boxes.shape)}")


def _levels(
    name: str, image_size: Sequence[int], feature_sizes: Sequence[Sequence[int]], strides: Sequence[int]
) -> tuple[tuple[float, float], list[tuple[int, int]], list[int]]:
    """Validated plain-number copies of ``image_size`` (h, w), ``feature_sizes`` and ``strides``."""
    if len(image_size) != 2:
        raise ValueError(f"{name}: image_size must be (h, w), got {image_size}")
    if len(feature_sizes) != len(strides) or not len(feature_sizes):
        raise ValueError(f"{name}: {len(feature_sizes)} feature_sizes for {len(strides)} strides")
    sizes = []
    for size in feature_sizes:
        if len(size) != 2 or min(int(v) for v in size) < 1:
            raise ValueError(f"{name}: feature_sizes entries must be (H, W) >= 1, got {tuple(size)}")
        sizes.append((int(size[0]), int(size[1])))
    plain_strides = [int(s) for s in strides]
    for stride in plain_strides:
        if stride < 1 or math.log2(stride) % 1:
            raise ValueError(f"{name}: strides must be powers of two, got {stride}")
    return (float(image_size[0]), float(image_size[1])), sizes, plain_strides


def cell_grid(
    feature_sizes: Sequence[Sequence[int]], strides: Sequence[int], *, dtype: torch.dtype, device: torch.device
) -> tuple[Tensor, Tensor]:
    """Every cell's ``(y, x)`` grid index ``[G, 2]`` and stride ``[G]``, level-major then row-major."""
    grids, cell_strides = [], []
    for (height, width), stride in zip(feature_sizes, strides):
        y, x = torch.meshgrid(
            torch.arange(height, dtype=dtype, device=device),
            torch.arange(width, dtype=dtype, device=device),
            indexing="ij",
        )
        grids.append(torch.stack([y.reshape(-1), x.reshape(-1)], dim=1))  # [H*W, 2]
        cell_strides.append(torch.full((height * width,), float(stride), dtype=dtype, device=device))
    return torch.cat(grids), torch.cat(cell_strides)


def padding_cells(grid: Tensor, cell_strides: Tensor, image_size: Sequence[int]) -> Tensor:
    """``[G]`` bool: cells beyond ``ceil(side/32)*32/s`` on either axis (the region the batch padding adds)."""
    limit = torch.tensor([math.ceil(float(image_size[0]) / 32.0) * 32.0, math.ceil(float(image_size[1]) / 32.0) * 32.0])
    limit = limit.to(grid)[None, :] / cell_strides[:, None]  # [G, 2]
    return ~(grid < limit).all(dim=1)


def box_level(gt_boxes: Tensor, low: int = 3, high: int = 7) -> Tensor:
    """``clamp(trunc(log2(sqrt((x2-x1+1)(y2-y1+1))) - 2), low, high)``: the "+1" area, truncation toward 0."""
    area = (gt_boxes[:, 2] - gt_boxes[:, 0] + 1) * (gt_boxes[:, 3] - gt_boxes[:, 1] + 1)
    return (torch.log2(torch.sqrt(area)) - 2.0).trunc().clamp(low, high).long()


def assign_coarse_targets(
    gt_boxes: Tensor,
    image_size: Sequence[int],
    feature_sizes: Sequence[Sequence[int]],
    *,
    strides: Sequence[int] = PDNET_STRIDES,
) -> Tensor:
    """Step 1: the coarse-box positives, one cell per box at most (``assign_targets_for_coarse_boxes``).

    ``gt_boxes`` [M, 4] (x1, y1, x2, y2) in pixels; ``image_size`` (h, w) before padding; ``feature_sizes`` one
    (H, W) per stride. A box's level is :func:`box_level` (clamped to the levels the strides give; 3-7 for the
    default strides); cell ``(y, x)`` of that level is a candidate when ``|y - cy/s| <= 0.5`` and
    ``|x - cx/s| <= 0.5`` (both inclusive, centre ``((x1+x2)/2, (y1+y2)/2)``). A cell that is a candidate of
    several boxes takes the one with the smallest size-normalised distance ``||(grid*s - centre) / (wh + 1)||``
    (``wh`` clamped at 0; the first box on exact ties). Returns ``Long[G]``: the box index, ``-1`` elsewhere,
    ``-2`` in the padding region.
    """
    _check_boxes("assign_coarse_targets", gt_boxes, "gt_boxes")
    image_size, feature_sizes, strides = _levels("assign_coarse_targets", image_size, feature_sizes, strides)
    dtype = gt_boxes.dtype if gt_boxes.is_floating_point() else torch.float32
    boxes = gt_boxes.to(dtype)
    grid, cell_strides = cell_grid(feature_sizes, strides, dtype=dtype, device=boxes.device)
    result = torch.full((grid.shape[0],), -1, dtype=torch.long, device=boxes.device)
    if boxes.shape[0]:
        yx = boxes[:, (1, 0, 3, 2)]  # [M, 4] as (y1, x1, y2, x2)
        centres = (yx[:, :2] + yx[:, 2:]) / 2  # [M, 2]
        sizes = (yx[:, 2:] - yx[:, :2]).clamp(min=0) + 1  # [M, 2]
        diff = grid[:, None, :] - centres[None] / cell_strides[:, None, None]  # [G, M, 2] in cells
        dist = torch.linalg.vector_norm(diff / (sizes[None] / cell_strides[:, None, None]), dim=2)  # [G, M]
        levels = torch.tensor([int(math.log2(s)) for s in strides], device=boxes.device)
        cell_levels = torch.repeat_interleave(
            levels, torch.tensor([h * w for h, w in feature_sizes], device=boxes.device)
        )
        right_level = box_level(boxes, int(levels.min()), int(levels.max()))[None, :] == cell_levels[:, None]
        candidate = diff.abs().le(0.5).all(dim=2) & right_level  # [G, M]
        dist = torch.where(candidate, dist, torch.full_like(dist, torch.inf))
        index = dist.argmin(dim=1)  # the first box on exact ties
        best = dist.gather(1, index[:, None])[:, 0]
        result = torch.where(torch.isfinite(best), index, result)
    result[padding_cells(grid, cell_strides, image_size)] = -2
    return result


def iou_plus_one(boxes: Tensor, gt_boxes: Tensor) -> Tensor:
    """``[N, M]`` IoU with "+1" areas and intersections (``bbox_IoU``), same corner order in both inputs.

    Areas are not clamped; rows whose boxes have an inverted corner pair get :data:`INVERTED_IOU`.
    """
    areas = (boxes[:, 2:] - boxes[:, :2] + 1).prod(dim=1)
    gt_areas = (gt_boxes[:, 2:] - gt_boxes[:, :2] + 1).prod(dim=1)
    top_left = torch.max(boxes[:, None, :2], gt_boxes[None, :, :2])
    bottom_right = torch.min(boxes[:, None, 2:], gt_boxes[None, :, 2:])
    inter = (bottom_right - top_left + 1).clamp(min=0).prod(dim=2)  # [N, M]
    iou = inter / (areas[:, None] + gt_areas[None, :] - inter)
    inverted = (boxes[:, :2] > boxes[:, 2:]).any(dim=1)
    return torch.where(inverted[:, None], torch.full_like(iou, INVERTED_IOU), iou)


def assign_final_targets(
    coarse_boxes: Tensor,
    gt_boxes: Tensor,
    image_size: Sequence[int],
    feature_sizes: Sequence[Sequence[int]],
    *,
    strides: Sequence[int] = PDNET_STRIDES,
    pos_iou_thr: float = 0.6,
    neg_iou_thr: float = 0.6,
) -> Tensor:
    """Step 2: final-prediction labels from the IoU of the detached coarse boxes with the boxes (``assign_targets``).

    ``coarse_boxes`` [G, 4] are the head's coarse boxes in grid units, (t, l, b, r) order, cells ordered as
    everywhere here; they are scaled by each cell's stride. ``gt_boxes`` [M, 4] (x1, y1, x2, y2) pixels.
    IoU is :func:`iou_plus_one` (inverted coarse boxes -2e8). A cell with best IoU ``>= pos_iou_thr`` takes that
    box, one with best IoU ``< neg_iou_thr`` is negative (-1), the rest ignored (-2). Then PDNet's low-quality
    step (``USE_POOR_MATCHED_GT`` with threshold -1, not torchvision's ``Matcher``): every cell whose IoU with
    some box equals that box's maximum IoU (when that maximum is ``>= -1``) becomes positive, and takes the
    ``argmax`` over boxes of its IoUs *where matched, 0 elsewhere* (the first box on ties). Padding cells: -2.
    """
    _check_boxes("assign_final_targets", coarse_boxes, "coarse_boxes")
    _check_boxes("assign_final_targets", gt_boxes, "gt_boxes")
    image_size, feature_sizes, strides = _levels("assign_final_targets", image_size, feature_sizes, strides)
    dtype = coarse_boxes.dtype if coarse_boxes.is_floating_point() else torch.float32
    grid, cell_strides = cell_grid(feature_sizes, strides, dtype=dtype, device=coarse_boxes.device)
    if coarse_boxes.shape[0] != grid.shape[0]:
        raise ValueError(
            f"assign_final_targets: {coarse_boxes.shape[0]} coarse boxes for {grid.shape[0]} cells "
            f"of the feature sizes {list(feature_sizes)}"
        )
    result = torch.full((grid.shape[0],), -1, dtype=torch.long, device=coarse_boxes.device)
    if gt_boxes.shape[0]:
        boxes = coarse_boxes.detach().to(dtype) * cell_strides[:, None]  # [G, 4] (y1, x1, y2, x2) pixels
        iou = iou_plus_one(boxes, gt_boxes.to(dtype)[:, (1, 0, 3, 2)])  # [G, M]
        best_gt = iou.argmax(dim=1)
        best = iou.gather(1, best_gt[:, None])[:, 0]
        result = torch.where(best >= pos_iou_thr, best_gt, torch.where(best < neg_iou_thr, -1, -2))
        best_for_gt = iou.max(dim=0).values  # [M]
        matched = (iou == best_for_gt[None]) & (best_for_gt[None] >= -1)  # [G, M]
        matched_gt = torch.where(matched, iou, torch.zeros_like(iou)).argmax(dim=1)
        result = torch.where(matched.any(dim=1), matched_gt, result)
    result[padding_cells(grid, cell_strides, image_size)] = -2
    return result

"""SiamFC++ dense box targets (video_analyst ``make_densebox_target``, one box per image)."""

from __future__ import annotations

import torch


def score_offset(x_size: int, score_size: int, total_stride: int) -> int:
    """Pixel of the first score-map location in the search crop: ``(x_size - 1 - (S - 1) * stride) // 2``
    (79 for 303 / 19 / 8, 87 for 303 / 17 / 8)."""
    return (x_size - 1 - (score_size - 1) * total_stride) // 2


def score_locations(
    x_size: int, score_size: int, total_stride: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """(S², 2) crop pixel (x, y) of each score-map location, row-major: n = y·S + x."""
    offset = score_offset(x_size, score_size, total_stride)
    coords = offset + torch.arange(score_size, dtype=dtype) * total_stride
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")  # (S, S) each
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)


def make_densebox_target(
    fake_boxes: torch.Tensor, *, x_size: int = 303, score_size: int = 19, total_stride: int = 8
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Dense targets of (B, 4) xyxy boxes in search-crop pixels: ``(cls_gt, ctr_gt, box_gt)`` of shapes
    (B, S², 1), (B, S², 1), (B, S², 4), computed in float32.

    A location at pixel ``p = offset + stride·(x, y)`` is positive when ``l, t, r, b`` (its distances to the
    box sides) are all strictly positive; there ``cls = 1``, ``box = the box`` and
    ``ctr = sqrt|min(l, r)·min(t, b) / (max(l, r)·max(t, b) + 1e-5)|``; elsewhere all three are 0.
    """
    boxes = torch.as_tensor(fake_boxes)
    if boxes.ndim == 1 and boxes.shape[0] == 4:
        boxes = boxes[None]  # one box: B = 1
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"fake_boxes: expected shape (B, 4) xyxy, got {tuple(boxes.shape)}")
    boxes = boxes.detach().to(torch.float32)
    points = score_locations(x_size, score_size, total_stride).to(boxes.device)  # (S², 2)
    px, py = points[None, :, 0], points[None, :, 1]  # (1, S²)
    left = px - boxes[:, None, 0]  # (B, S²)
    top = py - boxes[:, None, 1]
    right = -(px - boxes[:, None, 2])
    bottom = -(py - boxes[:, None, 3])
    inside = (left > 0) & (top > 0) & (right > 0) & (bottom > 0)  # (B, S²)
    ratio = (torch.minimum(left, right) * torch.minimum(top, bottom)) / (
        torch.maximum(left, right) * torch.maximum(top, bottom) + 1e-5
    )
    zero = torch.zeros((), dtype=torch.float32, device=boxes.device)
    ctr = torch.where(inside, torch.sqrt(torch.abs(ratio)), zero)
    cls = inside.to(torch.float32)
    box = torch.where(inside[..., None], boxes[:, None, :].expand(-1, points.shape[0], -1), zero)  # (B, S², 4)
    return cls[..., None], ctr[..., None], box

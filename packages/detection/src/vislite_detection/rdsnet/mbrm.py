"""RDSNet's mask-based boundary refinement (MBRM): box edges from mask projections."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# The official module's constants (no training code exists for them).
MBRM_KERNEL = (-0.2968, -0.2892, -0.2635, -3.2545, -0.1874, 2.5041, 0.0196, 0.0651, 0.0917)
MBRM_BIAS = -1.9536
PRIOR_FLOOR = 0.0044


def _edge_scores(profile: Tensor, kernel: Tensor, bias: Tensor) -> Tensor:
    """Sigmoid of the 1-D edge filter over ``profile`` [N, L] (zero padding, same length)."""
    pad = (kernel.shape[-1] - 1) // 2
    return torch.sigmoid(F.conv1d(profile.unsqueeze(1), kernel, bias, padding=pad).squeeze(1))


def _prior(grid: Tensor, centre: Tensor, two_sigma_sq: Tensor) -> Tensor:
    """Gaussian prior [N, L] around ``centre`` [N, 1], zero where it is not above the floor."""
    weight = torch.exp(-(grid - centre).pow(2) / two_sigma_sq)
    return torch.where(weight > PRIOR_FLOOR, weight, torch.zeros_like(weight))


def mbrm_refine(masks: Tensor, boxes: Tensor, *, gamma: float = 0.05, kernel_size: int = 9) -> Tensor:
    """Refined boxes [N, 4] (integer-valued x1, y1, x2, y2; no "+1") from cropped masks.

    ``masks`` [N, H, W] foreground probabilities, ``boxes`` [N, 4] in the same pixels.
    The row / column max projections go through the constant 9-tap edge filter (flipped for the
    right and bottom edges), a sigmoid, and a Gaussian prior around the current edge with
    sigma = max(gamma * size, 1) truncated at 0.0044; each edge is the first argmax of the
    normalised product.
    """
    if kernel_size != len(MBRM_KERNEL):
        raise ValueError(f"mbrm_refine: only the official kernel_size=9 exists, got {kernel_size}")
    if masks.dim() != 3 or boxes.dim() != 2 or boxes.shape[0] != masks.shape[0] or boxes.shape[1] < 4:
        raise ValueError(
            f"mbrm_refine: expected masks [N, H, W] and boxes [N, 4], got {tuple(masks.shape)} and {tuple(boxes.shape)}"
        )
    n, h, w = masks.shape
    if n == 0:
        return masks.new_zeros(0, 4)
    masks = masks.to(boxes.dtype) if not masks.is_floating_point() else masks
    dtype = masks.dtype
    boxes = boxes[:, :4].to(dtype)
    kernel = torch.tensor(MBRM_KERNEL, dtype=dtype, device=masks.device).view(1, 1, -1)
    flipped = kernel.flip(dims=(2,))
    bias = torch.tensor([MBRM_BIAS], dtype=dtype, device=masks.device)
    horizontal = masks.amax(dim=1)  # [N, W] column profile
    vertical = masks.amax(dim=2)  # [N, H] row profile
    grid_x = torch.arange(w, dtype=dtype, device=masks.device).view(1, w)
    grid_y = torch.arange(h, dtype=dtype, device=masks.device).view(1, h)
    sigma_x = ((boxes[:, 2] - boxes[:, 0]) * gamma).clamp(min=1.0).view(n, 1)
    sigma_y = ((boxes[:, 3] - boxes[:, 1]) * gamma).clamp(min=1.0).view(n, 1)
    two_sx, two_sy = 2 * sigma_x.pow(2), 2 * sigma_y.pow(2)
    edges = (
        _edge_scores(horizontal, kernel, bias) * _prior(grid_x, boxes[:, 0:1], two_sx),
        _edge_scores(vertical, kernel, bias) * _prior(grid_y, boxes[:, 1:2], two_sy),
        _edge_scores(horizontal, flipped, bias) * _prior(grid_x, boxes[:, 2:3], two_sx),
        _edge_scores(vertical, flipped, bias) * _prior(grid_y, boxes[:, 3:4], two_sy),
    )
    refined = [torch.argmax(e / e.sum(dim=1, keepdim=True), dim=1) for e in edges]
    return torch.stack(refined, dim=1).to(dtype)

"""Test-time patch placement in the search crop (SiamAttack ``baseline``'s oracle rule) and its fake ground truth."""

from __future__ import annotations

from collections.abc import Sequence

import torch

PHASES = ("OURS", "AP", "UAP")


def check_phase(phase: str) -> str:
    """``phase`` if it is one of OURS / AP / UAP, else a ValueError."""
    if phase not in PHASES:
        raise ValueError(f"phase: expected one of {PHASES}, got {phase!r}")
    return phase


def crop_to_frame(u: float, centre: float, scale_x: float, x_size: int) -> float:
    """Search-crop coordinate ``u`` back to the frame: ``u / s + c - (x_size // 2) / s``."""
    return u / scale_x + centre - (x_size // 2) / scale_x


def frame_to_crop(a: float, centre: float, scale_x: float, x_size: int) -> int:
    """Frame coordinate ``a`` into the search crop, truncated: ``int((a + (x_size // 2) / s - c) * s)``."""
    return int((a + (x_size // 2) / scale_x - centre) * scale_x)


def attack_search_region(
    search: torch.Tensor,
    patch: torch.Tensor,
    ref_box: Sequence[float],
    target_pos: Sequence[float],
    scale_x: float,
    *,
    x_size: int = 303,
    phase: str = "OURS",
) -> tuple[torch.Tensor, tuple[int, int, int, int], tuple[float, float, float, float]]:
    """Put the P×P ``patch`` into the (1, 3, H, W) BGR 0–255 ``search`` crop beside ``ref_box`` (frame x, y, w, h):
    ``(adv, patch_box, fgt_xywh)``.

    The box's top-left corner maps into the crop by truncation; the patch goes P+2 px above it when w > h
    (strictly), else P+2 px to its left; then ``x1 = max(x1, 0)`` and, if ``x1 + P >= W``, ``x1 = W - 1 - P``
    (same for y). OURS adds the patch, AP pastes it, UAP adds a whole-crop perturbation (same placement
    arithmetic, as the original). No [0, 255] clamp, no resize; ``search`` is not modified.
    ``patch_box = (x1, y1, x1 + P, y1 + P)`` in the crop; ``fgt_xywh`` maps x1 and x1 + P (and y) back to the
    frame and returns ``(X1, Y1, X2 - X1 + 1, Y2 - Y1 + 1)``.
    """
    check_phase(phase)
    if search.ndim != 4 or search.shape[1] != 3:
        raise ValueError(f"search: expected shape (1, 3, H, W), got {tuple(search.shape)}")
    if patch.ndim != 4 or patch.shape[:2] != (1, 3) or patch.shape[2] != patch.shape[3]:
        raise ValueError(f"patch: expected shape (1, 3, P, P), got {tuple(patch.shape)}")
    height, width = int(search.shape[2]), int(search.shape[3])
    size = int(patch.shape[3])
    if phase == "UAP":
        if (size, size) != (height, width):
            raise ValueError(f"patch: phase UAP needs a whole-crop perturbation of {height}x{width}, got {size}x{size}")
    elif size >= min(height, width):
        raise ValueError(f"patch: a {size}x{size} patch does not fit in the {height}x{width} search crop")
    x, y, w, h = (float(v) for v in ref_box)
    cx, cy = (float(v) for v in target_pos)
    scale = float(scale_x)
    x1 = frame_to_crop(x, cx, scale, x_size)
    y1 = frame_to_crop(y, cy, scale, x_size)
    if w > h:
        y1 -= size + 2
    else:
        x1 -= size + 2
    x1, y1 = max(x1, 0), max(y1, 0)
    if x1 + size >= width:
        x1 = width - 1 - size
    if y1 + size >= height:
        y1 = height - 1 - size
    adv = search.clone()
    if phase == "OURS":
        adv[:, :, y1 : y1 + size, x1 : x1 + size] += patch.to(adv.dtype)
    elif phase == "AP":
        adv[:, :, y1 : y1 + size, x1 : x1 + size] = patch.to(adv.dtype)
    else:
        adv = adv + patch.to(adv.dtype)
    fx1, fx2 = crop_to_frame(x1, cx, scale, x_size), crop_to_frame(x1 + size, cx, scale, x_size)
    fy1, fy2 = crop_to_frame(y1, cy, scale, x_size), crop_to_frame(y1 + size, cy, scale, x_size)
    return adv, (x1, y1, x1 + size, y1 + size), (fx1, fy1, fx2 - fx1 + 1, fy2 - fy1 + 1)

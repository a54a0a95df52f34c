"""PDNet's prediction-collection ops (``CollectMerge`` / ``CollectConcat``) in pure PyTorch, CPU and GPU.

Point ``i`` of an output cell reads channels ``i*C ... i*C+C-1`` of ``input`` at its own location
``(location[2i], location[2i+1]) = (y, x)`` in input cells. The sample is bilinear with outside cells read as 0
(``grid_sample(bilinear, padding_mode='zeros', align_corners=True)``), and, as in the reference CUDA kernels,
it is exactly 0 with zero gradient whenever ``y <= -1``, ``y >= H``, ``x <= -1`` or ``x >= W`` (strict bounds).

The four corners are read from a one-cell zero-padded copy of the map, so a 1x1 map (P7 of small images)
needs no coordinate normalisation (``grid_sample``'s ``2x/(W-1) - 1`` divides by zero there), and ``floor`` of an
integer location is exact: the location gradient is the one-sided derivative towards ``floor + 1``, as the CUDA
kernels compute it. All points, cells and images are processed at once (no Python loop over points).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _check(name: str, input: Tensor, location: Tensor, point_num: int) -> int:
    """Validate shapes; return the channels per point ``C``."""
    if point_num < 1:
        raise ValueError(f"{name}: point_num must be >= 1, got {point_num}")
    if input.dim() != 4 or location.dim() != 4:
        raise ValueError(
            f"{name}: input [B,P*C,H,W] and location [B,2P,Ho,Wo] must be 4-D, got {tuple(input.shape)} "
            f"and {tuple(location.shape)}"
        )
    if not input.is_floating_point() or not location.is_floating_point():
        raise TypeError(f"{name}: input and location must be floating point, got {input.dtype} / {location.dtype}")
    if input.shape[0] != location.shape[0]:
        raise ValueError(f"{name}: batch sizes differ: input {input.shape[0]}, location {location.shape[0]}")
    if location.shape[1] != 2 * point_num:
        raise ValueError(f"{name}: location needs 2*point_num = {2 * point_num} channels, got {location.shape[1]}")
    if input.shape[1] % point_num:
        raise ValueError(f"{name}: input channels {input.shape[1]} are not divisible by point_num {point_num}")
    if input.shape[2] < 1 or input.shape[3] < 1:
        raise ValueError(f"{name}: input map is empty: {tuple(input.shape)}")
    return input.shape[1] // point_num


def sample_points(input: Tensor, location: Tensor, point_num: int) -> Tensor:
    """Bilinear samples of each point's own channel group: ``[B,P*C,H,W]``, ``[B,2P,Ho,Wo]`` -> ``[B,P,N,C]``
    (``N = Ho*Wo``). The four corners of every point are read as C-channel rows of a channels-last padded copy
    (one ``index_select``; its backward is a row-wise ``index_add``)."""
    batch, channels, height, width = input.shape
    c = channels // point_num
    n = location.shape[2] * location.shape[3]
    cells = (height + 2) * (width + 2)
    padded = F.pad(input, (1, 1, 1, 1)).reshape(batch * point_num, c, cells)  # [B*P, C, L]
    rows = padded.transpose(1, 2).reshape(batch * point_num * cells, c)  # [B*P*L, C]
    loc = location.reshape(batch, point_num, 2, n)  # [B,P,2,N]: (y, x) per point
    y, x = loc[:, :, 0], loc[:, :, 1]  # [B,P,N]
    valid = (y > -1) & (y < height) & (x > -1) & (x < width)
    y = torch.where(valid, y, torch.zeros_like(y))  # outside points: no gradient, safe indices
    x = torch.where(valid, x, torch.zeros_like(x))
    y0, x0 = y.detach().floor(), x.detach().floor()
    fy, fx = y - y0, x - x0  # the only path of the location gradient
    first = torch.arange(batch * point_num, device=input.device).reshape(batch, point_num, 1) * cells
    top_left = first + (y0.long() + 1) * (width + 2) + x0.long() + 1  # [B,P,N] row of the padded map
    index = torch.stack([top_left, top_left + 1, top_left + width + 2, top_left + width + 3])  # [4,B,P,N]
    weights = torch.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx]) * valid  # [4,B,P,N]
    corners = rows.index_select(0, index.reshape(-1)).reshape(4, batch, point_num, n, c)
    return (corners * weights[..., None]).sum(0)  # [B,P,N,C]


def collect_merge(input: Tensor, location: Tensor, bias: Tensor | None = None, *, point_num: int = 9) -> Tensor:
    """``CollectMerge``: the sum over the ``point_num`` points of their samples of channel ``c``, plus ``bias[c]``.

    ``input`` [B,P*C,H,W], ``location`` [B,2P,Ho,Wo] (channel ``2i`` = row y, ``2i+1`` = column x of point ``i``,
    in input cells), ``bias`` [C] or None. Returns [B,C,Ho,Wo] in the dtype of ``input``.
    """
    c = _check("collect_merge", input, location, point_num)
    if bias is not None and bias.shape != (c,):
        raise ValueError(f"collect_merge: bias must have shape [{c}] (channels per point), got {tuple(bias.shape)}")
    out = sample_points(input, location, point_num).sum(1).transpose(1, 2)  # [B,C,N]
    out = out.reshape(input.shape[0], c, location.shape[2], location.shape[3])
    return out if bias is None else out + bias.reshape(1, c, 1, 1)


def collect_concat(input: Tensor, location: Tensor, bias: Tensor | None = None, *, point_num: int = 4) -> Tensor:
    """``CollectConcat``: every point's samples kept apart (point-major channels), plus ``bias[i*C+c]``.

    ``input`` [B,P*C,H,W], ``location`` [B,2P,Ho,Wo], ``bias`` [P*C] or None. Returns [B,P*C,Ho,Wo].
    """
    _check("collect_concat", input, location, point_num)
    channels = input.shape[1]
    if bias is not None and bias.shape != (channels,):
        raise ValueError(f"collect_concat: bias must have shape [{channels}] (P*C), got {tuple(bias.shape)}")
    out = sample_points(input, location, point_num).transpose(2, 3)  # [B,P,C,N]
    out = out.reshape(input.shape[0], channels, location.shape[2], location.shape[3])
    return out if bias is None else out + bias.reshape(1, channels, 1, 1)

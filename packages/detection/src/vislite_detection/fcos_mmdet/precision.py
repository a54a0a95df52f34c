"""Full precision for box arithmetic: float64 stays float64, everything else computes in float32, autocast off."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor


def box_dtype(tensor: Tensor) -> torch.dtype:
    """float64 stays float64; every other dtype (bf16, fp16, fp32, integers) computes in float32."""
    return torch.float64 if tensor.dtype == torch.float64 else torch.float32


@contextlib.contextmanager
def full_precision(device: torch.device) -> Iterator[None]:
    """Autocast switched off on ``device``'s type (bf16 would move a 1000 px box edge by several pixels)."""
    with torch.autocast(device_type=device.type, enabled=False):
        yield

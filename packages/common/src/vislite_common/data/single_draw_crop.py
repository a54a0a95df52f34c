"""The random-resized crop of MAE's linear probing (``util/crop.py``): one draw, no retries (TF / BYOL style).

torchvision's ``RandomResizedCrop`` retries up to 10 times for a box inside the image, then falls back to a
centre crop. MAE's linear probe draws the area fraction and the log aspect ratio once, rounds the box, clips its
sides to the image and places it uniformly: boxes at the image border are common, the fallback never happens.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as TF


def single_draw_box(
    height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float]
) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of one draw with torch's global RNG: area ``U(scale) * H * W``, aspect
    ``exp(U(log ratio))``, sides rounded then clipped to the image, offsets uniform."""
    area = height * width * torch.empty(1).uniform_(scale[0], scale[1]).item()
    log_ratio = torch.log(torch.tensor(ratio))
    aspect = torch.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1])).item()
    w = min(int(round(math.sqrt(area * aspect))), width)
    h = min(int(round(math.sqrt(area / aspect))), height)
    top = int(torch.randint(0, height - h + 1, size=(1,)).item())
    left = int(torch.randint(0, width - w + 1, size=(1,)).item())
    return top, left, h, w


class SingleDrawResizedCrop(v2.Transform):
    """MAE's linear-probe crop on tensors or PIL images: :func:`single_draw_box`, then resize to ``size``."""

    def __init__(
        self,
        size: int,
        *,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        interpolation: InterpolationMode = InterpolationMode.BICUBIC,
    ) -> None:
        super().__init__()
        self.size = [int(size), int(size)]
        self.scale, self.ratio, self.interpolation = tuple(scale), tuple(ratio), interpolation

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        height, width = v2.query_size(flat_inputs)
        top, left, h, w = single_draw_box(height, width, self.scale, self.ratio)
        return {"top": top, "left": left, "height": h, "width": w}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self._call_kernel(
            TF.resized_crop, inpt, **params, size=self.size, interpolation=self.interpolation, antialias=True
        )

    # torchvision < 0.21 calls these names
    _get_params = make_params
    _transform = transform

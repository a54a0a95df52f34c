"""RDSNet's correlation module: a plain dot product of pixel and object representations."""

from __future__ import annotations

import torch
from torch import Tensor


def correlate(pixel_reps: Tensor, obj_reps: Tensor) -> Tensor:
    """Mask logits [N, 2, h, w] from ``pixel_reps`` [D, h, w] and ``obj_reps`` [N, 2, D].

    Channel 0 is the background logit, channel 1 the foreground logit.
    """
    if pixel_reps.dim() != 3 or obj_reps.dim() != 3 or obj_reps.shape[1] != 2:
        raise ValueError(
            f"expected pixel_reps [D, h, w] and obj_reps [N, 2, D], got {tuple(pixel_reps.shape)} "
            f"and {tuple(obj_reps.shape)}"
        )
    if pixel_reps.shape[0] != obj_reps.shape[2]:
        raise ValueError(
            f"representation widths differ: pixel_reps D={pixel_reps.shape[0]}, obj_reps D={obj_reps.shape[2]}"
        )
    return torch.einsum("dhw,nkd->nkhw", pixel_reps, obj_reps)

"""Attention distance and attention entropy per layer and head, and class-token attention maps.

Computed as MAE-Lite's analysis does (``projects/eval_tools/visualize/attn_analyzer.py``):

* the **pre-softmax** logits of every block are captured (``model.capture_attention``), the class token's row
  and column are dropped, and the softmax is taken over the ``L`` patch tokens only;
* entropy of a query's attention is ``-sum_j p_j * log(p_j + 1e-6)``;
* distance of a query is ``sum_j p_j * d_ij``, with ``d_ij`` the Euclidean distance between patches ``i`` and
  ``j`` on the patch grid times a scale (see :data:`DISTANCE_UNITS`);
* both are averaged over queries and images, per head.

Uniform attention (zero logits) on a 14 x 14 grid gives entropy ``ln 196 = 5.278`` (5.2779 with the 1e-6) and a
mean grid distance of 7.28076 patches: 101.93 in the reference's units, 116.49 px for 16 px patches.

MAE-Lite averages its per-batch means; here sums run over images, which is the same for equal batches and exact
for a last, smaller batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

ENTROPY_EPS = 1e-6
"""Added inside the logarithm of the entropy, as in the reference."""
REFERENCE_DISTANCE_SCALE = 14.0
"""MAE-Lite multiplies grid distances by 14 (not by the 16 px patch size), whatever the model's patch size."""
DISTANCE_UNITS = ("reference", "pixels", "patches")
"""``reference``: grid distance x 14 (MAE-Lite's figures, y-range 0-135); ``pixels``: grid distance x the patch
size in pixels (x 16 for ViT-Tiny/16); ``patches``: grid distance in patches."""


def distance_scale(unit: str, patch_size: int) -> float:
    """Factor turning patch-grid distances into ``unit`` (one of :data:`DISTANCE_UNITS`)."""
    if unit == "reference":
        return REFERENCE_DISTANCE_SCALE
    if unit == "pixels":
        return float(patch_size)
    if unit == "patches":
        return 1.0
    raise ValueError(f"distance unit must be one of {DISTANCE_UNITS}, got {unit!r}")


def patch_distances(grid: tuple[int, int], scale: float = 1.0) -> torch.Tensor:
    """Euclidean distances ``[L, L]`` between the patches of a ``(rows, cols)`` grid (row-major), times ``scale``."""
    rows, cols = torch.meshgrid(torch.arange(grid[0]), torch.arange(grid[1]), indexing="ij")
    coords = torch.stack([rows.flatten(), cols.flatten()], dim=1).double()  # [L, 2]
    return torch.cdist(coords, coords) * scale  # [L, L]


def patch_attention(logits: torch.Tensor, num_prefix_tokens: int) -> torch.Tensor:
    """Softmax over patch tokens of the patch-to-patch logits: ``[B, H, N, N]`` -> ``[B, H, L, L]`` (float32)."""
    if logits.ndim != 4 or logits.shape[-1] != logits.shape[-2]:
        raise ValueError(f"expected attention logits [B, heads, N, N], got {tuple(logits.shape)}")
    return logits[:, :, num_prefix_tokens:, num_prefix_tokens:].float().softmax(dim=-1)


def entropy_and_distance(
    logits: torch.Tensor, distances: torch.Tensor, num_prefix_tokens: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-head attention entropy and distance ``([B, H], [B, H])``, averaged over the queries.

    ``distances`` is :func:`patch_distances` of the model's grid (``[L, L]``, already scaled).
    """
    probs = patch_attention(logits, num_prefix_tokens)  # [B, H, L, L]
    if probs.shape[-1] != distances.shape[-1]:
        raise ValueError(
            f"logits have {probs.shape[-1]} patch tokens after {num_prefix_tokens} prefix token(s), but the distance "
            f"matrix is for {distances.shape[-1]} patches"
        )
    entropy = -(probs * (probs + ENTROPY_EPS).log()).sum(dim=-1)  # [B, H, L]
    distance = (probs * distances.to(probs)).sum(dim=-1)  # [B, H, L]
    return entropy.mean(dim=-1), distance.mean(dim=-1)


@dataclass
class AttentionStats:
    """Mean attention entropy and distance, ``[layers, heads]`` each, over ``num_images`` images."""

    entropy: torch.Tensor
    distance: torch.Tensor
    unit: str
    scale: float
    num_images: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per-layer lists of per-head values, and the per-layer means."""
        return {
            "entropy": self.entropy.tolist(),
            "distance": self.distance.tolist(),
            "mean_entropy_per_layer": self.entropy.mean(dim=1).tolist(),
            "mean_distance_per_layer": self.distance.mean(dim=1).tolist(),
            "distance_unit": self.unit,
            "distance_scale": self.scale,
            "num_images": self.num_images,
        }


def grid_of(model: nn.Module) -> tuple[int, int]:
    """The patch grid ``(rows, cols)`` of a ViT's patch embedding."""
    grid = getattr(getattr(model, "patch_embed", None), "grid_size", None)
    if grid is None:
        raise TypeError(f"{type(model).__name__} has no patch_embed.grid_size; expected a vislite ViT")
    return int(grid[0]), int(grid[1])


def patch_size_of(model: nn.Module) -> int:
    """The patch side in pixels."""
    return int(model.patch_embed.patch_size[0])


@contextmanager
def streamed_attention(model: nn.Module, consume: Callable[[int, torch.Tensor], None]) -> Iterator[None]:
    """While active, every block's pre-softmax logits ``[B, H, N, N]`` go to ``consume(block, logits)`` as soon as
    the block has run and are then released, so only one layer's maps are alive at a time."""
    if not hasattr(model, "capture_attention"):
        raise TypeError(f"{type(model).__name__} cannot expose attention logits (no capture_attention())")
    indices = list(range(len(model.blocks)))
    with model.capture_attention(indices) as captured:
        handles = [
            block.register_forward_hook(lambda _m, _i, _o, index=index: consume(index, captured.pop(index)))
            for index, block in enumerate(model.blocks)
        ]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()


@torch.no_grad()
def attention_statistics(
    model: nn.Module,
    batches: Iterable[torch.Tensor | tuple | list],
    *,
    unit: str = "reference",
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> AttentionStats:
    """Attention entropy and distance per layer and head of ``model`` over ``batches`` of images."""
    model.eval().to(device)
    scale = distance_scale(unit, patch_size_of(model))
    distances = patch_distances(grid_of(model), scale).to(device)  # [L, L]
    prefix = int(getattr(model, "num_prefix_tokens", 1))
    entropy_sum: dict[int, torch.Tensor] = {}  # block -> [H], summed over images
    distance_sum: dict[int, torch.Tensor] = {}
    count = 0

    def consume(block: int, logits: torch.Tensor) -> None:
        entropy, distance = entropy_and_distance(logits, distances, prefix)  # [B, H] each
        entropy_sum[block] = entropy_sum.get(block, 0.0) + entropy.double().sum(dim=0)
        distance_sum[block] = distance_sum.get(block, 0.0) + distance.double().sum(dim=0)

    with streamed_attention(model, consume):
        for batch in tqdm(batches, desc="attention", unit="batch", disable=not progress):
            images = (batch[0] if isinstance(batch, (tuple, list)) else batch).to(device)
            model.forward_features(images)
            count += images.shape[0]
    if count == 0:
        raise ValueError("no images to analyse: the image loader is empty")
    entropy = torch.stack([entropy_sum[i] for i in sorted(entropy_sum)]).cpu() / count  # [layers, H]
    distance = torch.stack([distance_sum[i] for i in sorted(distance_sum)]).cpu() / count  # [layers, H]
    return AttentionStats(entropy=entropy, distance=distance, unit=unit, scale=scale, num_images=count)


@torch.no_grad()
def cls_attention_maps(model: nn.Module, images: torch.Tensor, layers: Iterable[int]) -> dict[int, torch.Tensor]:
    """Class-token attention over the patches, ``{layer: [B, H, rows, cols]}``, for ``images`` ``[B, 3, H, W]``.

    This is the attention the model applies (softmax over all tokens, class token included), read from the class
    token's row. Models without a class token show the attention each patch receives, averaged over queries.
    """
    model.eval()
    depth = len(model.blocks)
    asked = list(layers)
    wanted = sorted({layer + depth if layer < 0 else layer for layer in asked})
    if not wanted or not all(0 <= layer < depth for layer in wanted):
        raise IndexError(f"attention-map layers must lie in [-{depth}, {depth - 1}], got {asked}")
    prefix = int(getattr(model, "num_prefix_tokens", 1))
    rows, cols = grid_of(model)
    with model.capture_attention(wanted) as captured:
        model.forward_features(images)
    maps = {}
    for layer in wanted:
        attn = captured[layer].float().softmax(dim=-1)  # [B, H, N, N]
        received = attn[:, :, 0, prefix:] if prefix else attn.mean(dim=2)  # [B, H, L]
        maps[layer] = received.reshape(*received.shape[:2], rows, cols)  # [B, H, rows, cols]
    return maps

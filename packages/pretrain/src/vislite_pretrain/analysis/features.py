"""Per-layer token representations of a ViT, collected with forward hooks on each block's first norm.

Layer ``i < depth`` is the output (or input) of ``blocks[i].norm1``: the normalised input of block ``i``, so
layer 0 is the patch embedding plus position embedding. Layer ``depth`` is the last block's output passed
through the model's final norm (``norm``, or ``fc_norm`` applied token-wise when the model pools with
``fc_norm``). This is MAE-Lite's ``RepCatcher`` layering (``projects/eval_tools/util/forward_hook.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import torch
from torch import nn

Where = Literal["output", "input"]


def check_vit(model: nn.Module) -> None:
    """Raise ``TypeError`` unless ``model`` has the ViT parts the analysis reads (blocks with ``norm1``)."""
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, nn.Sequential | nn.ModuleList) or len(blocks) == 0:
        raise TypeError(f"{type(model).__name__} has no `blocks`; expected a vislite/timm VisionTransformer")
    if not all(isinstance(getattr(block, "norm1", None), nn.Module) for block in blocks):
        raise TypeError(f"{type(model).__name__}: every block needs a `norm1` module (a timm ViT block)")


def num_layers(model: nn.Module) -> int:
    """Number of analysed layers: one per block plus the final norm (13 for a 12-block ViT)."""
    check_vit(model)
    return len(model.blocks) + 1


def _token_wise_fc_norm(model: nn.Module) -> nn.Module:
    """``fc_norm`` when it replaces the final ``norm`` (global-average-pooling classifiers), else an identity."""
    fc_norm = getattr(model, "fc_norm", None)
    if isinstance(getattr(model, "norm", None), nn.Identity) and isinstance(fc_norm, nn.Module):
        return fc_norm
    return nn.Identity()


@contextmanager
def capture_norm1(model: nn.Module, where: Where = "output") -> Iterator[dict[int, torch.Tensor]]:
    """Hook every ``blocks[i].norm1``; yields ``{i: tokens [B, N, C]}`` filled while the model runs.

    ``where="output"`` keeps the normalised tokens, ``"input"`` the residual stream entering block ``i``.
    """
    if where not in ("output", "input"):
        raise ValueError(f"where must be 'output' or 'input', got {where!r}")
    check_vit(model)
    captured: dict[int, torch.Tensor] = {}
    handles = []
    for index, block in enumerate(model.blocks):

        def _store(_mod: nn.Module, inputs: tuple, output: torch.Tensor, index: int = index) -> None:
            captured[index] = output if where == "output" else inputs[0]

        handles.append(block.norm1.register_forward_hook(_store))
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def layer_representations(model: nn.Module, images: torch.Tensor, *, drop_prefix: bool = True) -> list[torch.Tensor]:
    """Tokens of every layer (``depth + 1`` tensors ``[B, N, C]``) for ``images`` ``[B, 3, H, W]``.

    With ``drop_prefix`` the class (and any register) tokens are removed, leaving the ``L`` patch tokens.
    """
    with capture_norm1(model, "output") as captured:
        last = model.forward_features(images)  # [B, prefix + L, C], after `norm` (an identity when fc_norm pools)
    last = _token_wise_fc_norm(model)(last)
    layers = [captured[i] for i in range(len(model.blocks))] + [last]
    if drop_prefix:
        prefix = int(getattr(model, "num_prefix_tokens", 1))
        layers = [tokens[:, prefix:] for tokens in layers]  # [B, L, C]
    return layers


def pool_tokens(tokens: torch.Tensor, pool: str, num_prefix_tokens: int) -> torch.Tensor:
    """``[B, N, C]`` -> ``[B, C]``: mean of the patch tokens (``"avg"``) or the class token (``"token"``)."""
    if pool == "avg":
        return tokens[:, num_prefix_tokens:].mean(dim=1)
    if pool == "token":
        if num_prefix_tokens < 1:
            raise ValueError("pool='token' needs a model with a class token")
        return tokens[:, 0]
    raise ValueError(f"pool must be 'avg' or 'token', got {pool!r}")


@torch.no_grad()
def pooled_layer_features(model: nn.Module, images: torch.Tensor, pool: str = "avg") -> torch.Tensor:
    """Pooled features of every layer, ``[B, depth + 1, C]`` (per-layer probes read these)."""
    prefix = int(getattr(model, "num_prefix_tokens", 1))
    layers = layer_representations(model, images, drop_prefix=False)
    return torch.stack([pool_tokens(tokens, pool, prefix) for tokens in layers], dim=1)  # [B, depth+1, C]

"""The interface shared by vislite backbones: layer ids, attention capture, pretrained configs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from timm.optim._param_groups import group_parameters
from torch import nn

from vislite_common.backbones.attention import capture_attention_logits, resolve_block_indices


def parameter_layer_ids(model: nn.Module) -> dict[str, int]:
    """Layer id of every parameter, from the model's timm ``group_matcher`` (fine grouping).

    Parameters the matcher does not place (heads, ``fc_norm``) get the last id, as in timm's and MAE-Lite's
    layer-wise lr decay (``layer_scale = decay ** (last_id - id)``).
    """
    if not hasattr(model, "group_matcher"):
        raise TypeError(f"{type(model).__name__} has no group_matcher(); cannot assign layer ids")
    layer_map = group_parameters(model, model.group_matcher(coarse=False), reverse=True)
    last = max(layer_map.values()) + 1 if layer_map else 0
    ids = {name: layer_map.get(name, last) for name, _ in model.named_parameters()}
    last = max(ids.values())
    return {name: min(i, last) for name, i in ids.items()}


def num_layer_ids(model: nn.Module) -> int:
    """Number of distinct layer ids (``max id + 1``); 14 for a 12-block ViT."""
    return max(parameter_layer_ids(model).values()) + 1


class TransformerBackboneMixin:
    """The vislite interface shared by transformer backbones whose ``blocks[i].attn`` expose a logits hook."""

    blocks: nn.ModuleList

    @property
    def depth(self) -> int:
        """Number of transformer blocks."""
        return len(self.blocks)

    @contextmanager
    def capture_attention(self, indices: int | list[int] | tuple[int, ...]) -> Iterator[dict[int, torch.Tensor]]:
        """Capture the pre-softmax attention logits of blocks ``indices`` (0-based; -1 is the last block).

        Yields ``{block: logits}`` filled during the ``with`` body; the fused kernels are used again after it.
        """
        blocks = resolve_block_indices(indices, self.depth)
        with capture_attention_logits({i: self.blocks[i].attn for i in blocks}) as captured:
            yield captured

    def layer_ids(self) -> dict[str, int]:
        """Layer id per parameter: embeddings 0, block ``k`` -> ``k + 1``, the rest (norms, head) last."""
        return parameter_layer_ids(self)


def pretrained_cfg(**overrides: Any) -> dict[str, Any]:
    """A timm pretrained config without weights (vislite never downloads): ImageNet statistics, 224 px."""
    return {
        "url": "",
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "pool_size": None,
        "crop_pct": 0.875,
        "interpolation": "bicubic",
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "first_conv": "patch_embed.proj",
        "classifier": "head",
        **overrides,
    }

"""Helpers shared by every vislite backbone: layer ids for layer-wise lr decay."""

from __future__ import annotations

from timm.optim._param_groups import group_parameters
from torch import nn


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

"""Weights of a hierarchical backbone (ResNet, Hiera) from a local file: a plain timm state dict (what
vislite-pretrain exports for a Hiera), a vislite classifier checkpoint (``state_dict`` with ``model.*``), or a
segmentation checkpoint of a :class:`~vislite_segmentation.models.pyramid.PyramidBackbone`."""

from __future__ import annotations

import logging
import os

import torch
from torch import nn

from vislite_common.backbones.encoder_weights import encoder_state_dict
from vislite_common.checkpoint import adapt_state_dict_to_model, load_into, safe_load

log = logging.getLogger(__name__)

SUBTREES = ("model.", "backbone.", "body.")
"""Containers the backbone sits in: a Lightning module, the segmentor's backbone, the pyramid wrapper."""
NOT_BACKBONE = ("fc.", "head.", "norm.", "neck.", "decode_head.", "auxiliary_head.")
"""Classifiers (ResNet ``fc``, Hiera ``head``), a final norm and segmentation heads: never loaded."""


def pyramid_state(checkpoint: object) -> dict[str, torch.Tensor]:
    """The backbone entries of a loaded checkpoint, with timm's key names (classifier and heads dropped)."""
    return encoder_state_dict(checkpoint, subtrees=SUBTREES, drop=NOT_BACKBONE)


def load_pyramid_weights(model: nn.Module, path: str | os.PathLike) -> None:
    """Load the backbone in ``path`` into the pruned timm ``model`` (no classifier); every key must match.

    A Hiera's own ``adapt_state_dict`` renames official keys and resizes the position table to its input size.
    A missing or unexpected key, or a shape mismatch, raises :class:`~vislite_common.checkpoint.CheckpointError`.
    """
    state = pyramid_state(safe_load(path))
    adapt = getattr(model, "adapt_state_dict", None)
    if callable(adapt):
        state = adapt(state)
    state = adapt_state_dict_to_model(state, model)
    load_into(model, state)
    log.info("loaded %s backbone from %s", type(model).__name__, path)

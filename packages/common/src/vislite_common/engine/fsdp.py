"""FSDP wrapping: which modules become their own FSDP unit (``trainer=fsdp``'s ``auto_wrap_policy``)."""

from __future__ import annotations

from timm.models.hiera import HieraBlock
from timm.models.vision_transformer import Block
from torch import nn


def transformer_block_classes() -> set[type[nn.Module]]:
    """The transformer blocks of vislite's ViTs and Hieras: each instance is wrapped as one FSDP unit."""
    return {Block, HieraBlock}

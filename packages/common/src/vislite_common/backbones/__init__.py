"""Backbones registered in timm's registry on import (``timm.create_model("vislite_vit_tiny")``)."""

from vislite_common.backbones.attention import CapturableAttention, capture_attention_logits
from vislite_common.backbones.interface import num_layer_ids, parameter_layer_ids
from vislite_common.backbones.vit import VisionTransformer

__all__ = [
    "CapturableAttention",
    "VisionTransformer",
    "capture_attention_logits",
    "num_layer_ids",
    "parameter_layer_ids",
]

"""Backbones registered in timm's registry on import (``timm.create_model("vislite_vit_tiny")``)."""

from vislite_common.backbones.attention import CapturableAttention, LogitsHook, capture_attention_logits
from vislite_common.backbones.hiera import CapturableMaskUnitAttention, Hiera
from vislite_common.backbones.interface import num_layer_ids, parameter_layer_ids
from vislite_common.backbones.manifest import ManifestError, read_manifest, write_backbone
from vislite_common.backbones.registry import create_backbone, list_backbones
from vislite_common.backbones.resnet import ResNet, load_torchvision_state_dict
from vislite_common.backbones.slimmable import create_slimmable_backbone, list_slimmable_backbones, slim
from vislite_common.backbones.slimmable_mobilenet import MobileNetV2, SlimmableMobileNetV2
from vislite_common.backbones.slimmable_resnet import SlimmableResNet, WidthResNet
from vislite_common.backbones.vit import VisionTransformer

__all__ = [
    "CapturableAttention",
    "CapturableMaskUnitAttention",
    "Hiera",
    "LogitsHook",
    "ManifestError",
    "MobileNetV2",
    "ResNet",
    "SlimmableMobileNetV2",
    "SlimmableResNet",
    "VisionTransformer",
    "WidthResNet",
    "capture_attention_logits",
    "create_backbone",
    "create_slimmable_backbone",
    "list_backbones",
    "list_slimmable_backbones",
    "load_torchvision_state_dict",
    "num_layer_ids",
    "parameter_layer_ids",
    "read_manifest",
    "slim",
    "write_backbone",
]

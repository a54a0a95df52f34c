"""ResNet / ResNeXt backbones (timm's implementation, torchvision's parameter layout) under vislite names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import torch
from timm.models import build_model_with_cfg, register_model
from timm.models._registry import generate_default_cfgs
from timm.models.resnet import BasicBlock, Bottleneck
from timm.models.resnet import ResNet as TimmResNet
from torch import nn

from vislite_common.backbones.interface import parameter_layer_ids, pretrained_cfg


class ResNet(TimmResNet):
    """timm's ResNet with the vislite backbone interface (``layer_ids``; no attention to capture).

    Keys match torchvision's ResNet (``conv1``, ``bn1``, ``layer1..4``, ``fc``), so torchvision state dicts
    load strictly (:func:`load_torchvision_state_dict`) and give the same outputs.
    """

    def capture_attention(self, indices: Any) -> NoReturn:
        """Always raises :class:`TypeError` (also when used as ``with model.capture_attention(...)``)."""
        name = (getattr(self, "pretrained_cfg", None) or {}).get("architecture", type(self).__name__)
        raise TypeError(f"{name} is a CNN; it has no attention logits to capture")

    def layer_ids(self) -> dict[str, int]:
        """Layer id per parameter: stem 0, each residual block in order (``layer1.0`` -> 1, ...), ``fc`` last."""
        return parameter_layer_ids(self)


def load_torchvision_state_dict(model: ResNet, source: nn.Module | Mapping[str, torch.Tensor]) -> ResNet:
    """Load a torchvision ``resnet*`` / ``resnext*`` model or state dict into ``model``, strictly.

    No renaming is needed: timm's ResNet uses torchvision's key names and layout.
    """
    state_dict = source.state_dict() if isinstance(source, nn.Module) else dict(source)
    model.load_state_dict(state_dict, strict=True)
    return model


def _cfg(**kwargs: Any) -> dict[str, Any]:
    defaults = {"pool_size": (7, 7), "interpolation": "bilinear", "first_conv": "conv1", "classifier": "fc"}
    return pretrained_cfg(**{**defaults, **kwargs})


default_cfgs = generate_default_cfgs(
    {
        "vislite_resnet18.untrained": _cfg(),
        "vislite_resnet50.untrained": _cfg(),
        "vislite_resnext50_32x4d.untrained": _cfg(),
        "test_vislite_resnet.untrained": _cfg(input_size=(3, 32, 32), pool_size=(1, 1), crop_pct=1.0),
    }
)


def _create_resnet(variant: str, pretrained: bool = False, **kwargs: Any) -> ResNet:
    """Build a registered variant; ``pretrained=True`` loads only from a local ``pretrained_cfg_overlay`` file."""
    return build_model_with_cfg(ResNet, variant, pretrained, **kwargs)


@register_model
def vislite_resnet18(pretrained: bool = False, **kwargs: Any) -> ResNet:
    """ResNet-18 (11,689,512 parameters with a 1000-class head)."""
    return _create_resnet("vislite_resnet18", pretrained, **dict(dict(block=BasicBlock, layers=(2, 2, 2, 2)), **kwargs))


@register_model
def vislite_resnet50(pretrained: bool = False, **kwargs: Any) -> ResNet:
    """ResNet-50 (25,557,032 parameters with a 1000-class head)."""
    return _create_resnet("vislite_resnet50", pretrained, **dict(dict(block=Bottleneck, layers=(3, 4, 6, 3)), **kwargs))


@register_model
def vislite_resnext50_32x4d(pretrained: bool = False, **kwargs: Any) -> ResNet:
    """ResNeXt-50 32x4d (25,028,904 parameters with a 1000-class head)."""
    args = dict(block=Bottleneck, layers=(3, 4, 6, 3), cardinality=32, base_width=4)
    return _create_resnet("vislite_resnext50_32x4d", pretrained, **dict(args, **kwargs))


@register_model
def test_vislite_resnet(pretrained: bool = False, **kwargs: Any) -> ResNet:
    """Tiny ResNet for tests: ResNet-18's 64-channel stem, one basic block per stage, widths 16-32-64-128."""
    args = dict(block=BasicBlock, layers=(1, 1, 1, 1), channels=(16, 32, 64, 128))
    return _create_resnet("test_vislite_resnet", pretrained, **dict(args, **kwargs))

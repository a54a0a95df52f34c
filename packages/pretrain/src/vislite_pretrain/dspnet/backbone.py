"""The slimmable backbones DSPNet pre-trains, and slimming them to one width (thin names over vislite-common)."""

from __future__ import annotations

from torch import nn

from vislite_common.backbones.slimmable import create_slimmable_backbone, list_slimmable_backbones
from vislite_common.backbones.slimmable import slim as _slim


def slimmable_backbone(name: str, width_mult: float = 1.0) -> nn.Module:
    """Slimmable backbone ``name`` running at ``width_mult`` (no classifier, projector or predictor).

    ``"resnet50"``: S-ResNet-50, every conv / BatchNorm ``int(c * w)`` of ResNet-50's channels (stem and projection
    shortcuts included, stride on the 3x3), one BatchNorm set per width of (1.0, 0.75, 0.5, 0.25);
    ``forward(x)`` returns the globally average-pooled feature ``(N, int(2048 * w))``. Also ``"mobilenetv2"`` and
    the tiny ``"test_resnet"`` / ``"test_mobilenetv2"``. Switch the width with ``model.width_mult = w``.
    Raises ``ValueError`` for an unknown name or an unsupported width.
    """
    return create_slimmable_backbone(name, width_mult=width_mult)


def slim(model: nn.Module, width_mult: float) -> nn.Module:
    """A standalone ordinary network of ``width_mult``: leading weight slices, exactly that width's BatchNorm set,
    no classifier; same output as ``model`` at that width; ``model`` is unchanged."""
    return _slim(model, width_mult)


__all__ = ["list_slimmable_backbones", "slim", "slimmable_backbone"]

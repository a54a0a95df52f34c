"""``create_backbone``: timm's ``create_model`` for vislite names, with pretrained weights from local files only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import timm
from torch import nn


def list_backbones() -> list[str]:
    """Every backbone vislite registers (``vislite_*`` and the tiny ``test_vislite_*`` variants)."""
    return sorted(timm.list_models("vislite_*") + timm.list_models("test_vislite_*"))


def create_backbone(name: str, *, pretrained: str | os.PathLike | None = None, **kwargs: Any) -> nn.Module:
    """Build backbone ``name`` through timm's registry; ``None`` keyword arguments are dropped.

    ``pretrained`` is a local weights file (a plain or wrapped state dict); nothing is ever downloaded.
    """
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if not timm.is_model(name):
        raise ValueError(f"unknown backbone {name!r}; vislite registers: {', '.join(list_backbones())}")
    if pretrained is None:
        return timm.create_model(name, pretrained=False, **kwargs)
    path = Path(pretrained)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights file {path} does not exist")
    return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs)

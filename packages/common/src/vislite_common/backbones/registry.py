"""``create_backbone``: timm's ``create_model`` for vislite names, with pretrained weights from local files only."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import timm
from torch import nn

from vislite_common.backbones.manifest import SPEC_ATTR, is_manifest, read_manifest

log = logging.getLogger(__name__)


def list_backbones() -> list[str]:
    """Every backbone vislite registers (``vislite_*`` and the tiny ``test_vislite_*`` variants)."""
    return sorted(timm.list_models("vislite_*") + timm.list_models("test_vislite_*"))


def create_backbone(
    name: str | None = None, *, pretrained: str | os.PathLike | None = None, **kwargs: Any
) -> nn.Module:
    """Build backbone ``name`` through timm's registry; ``None`` keyword arguments are dropped.

    ``pretrained`` may be a backbone manifest (``backbone.json``, or the folder holding it, as every pre-training
    run and ``vislite-export-backbone`` write): its network is rebuilt from the manifest's ``name`` and ``kwargs``
    (keyword arguments given here override them; ``name`` may be left out, and must agree when given) and its
    ``backbone.safetensors`` loaded. The built model records how it was made (``model.vislite_spec``), which
    :func:`~vislite_common.backbones.manifest.write_backbone` reads when exporting it.

    Otherwise ``pretrained`` is a local weights file: a plain, ``module.``-wrapped, Lightning (``state_dict``) or
    MAE/DeiT-style (``model``) state dict. Position embeddings are resized to the model's grid; a classifier
    whose size differs from the model's (a new ``num_classes``) is left freshly initialised. Every other key
    must match. Nothing is ever downloaded. The same file also loads through timm directly:
    ``timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=path))`` (there, timm drops the
    classifier whenever ``num_classes`` differs from 1000).

    Raises ``ValueError`` for an unknown ``name`` (listing the vislite names) and ``FileNotFoundError`` for a
    missing ``pretrained`` file.
    """
    from vislite_common.checkpoint import (
        adapt_state_dict_to_model,
        extract_state_dict,
        load_into,
        remap_state_dict,
        safe_load,
    )

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    path = None if pretrained is None else Path(pretrained)
    if path is not None and is_manifest(path):
        manifest = read_manifest(path)
        if name is not None and name != manifest["name"]:
            raise ValueError(f"{manifest['manifest']} describes a {manifest['name']!r}, not the requested {name!r}")
        name, kwargs, path = manifest["name"], {**manifest["kwargs"], **kwargs}, Path(manifest["weights"])
    if name is None:
        raise ValueError("create_backbone needs a backbone name, or pretrained=<backbone.json> to read it from")
    if not timm.is_model(name):
        raise ValueError(f"unknown backbone {name!r}; vislite registers: {', '.join(list_backbones())}")
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"pretrained weights file {path} does not exist")
    model = timm.create_model(name, pretrained=False, **kwargs)
    setattr(model, SPEC_ATTR, {"name": name, "kwargs": dict(kwargs)})
    if path is None:
        return model
    classifier = model.pretrained_cfg.get("classifier", "head")
    state = remap_state_dict(extract_state_dict(safe_load(path)))
    adapt = getattr(model, "adapt_state_dict", None)  # family-specific renames / resizes (Hiera)
    if callable(adapt):
        state = adapt(state)
    state = adapt_state_dict_to_model(state, model, drop_mismatched=(f"{classifier}.",))
    missing, _ = load_into(model, state, allow_missing=(f"{classifier}.",))
    if missing:
        log.info("%s: classifier %s left at its initialisation (%s)", path, classifier, ", ".join(missing))
    return model

"""Shared by the MAE families (ViT, Hiera): checkpoint keys onto vislite's layout, and building a model by name.

Keys: the encoder under ``encoder.``, the rest as is.

Shared by :mod:`vislite_pretrain.mae_lite.loading` and :mod:`vislite_pretrain.hiera_mae.loading`: wrapper
prefixes (``module.``, ``_orig_mod.``) are stripped; when keys live under ``model.`` (MAE-Lite's training
wrapper, vislite's LightningModule) only that subtree is kept, then likewise under ``student.`` (vislite's
distillation wrapper); what is dropped is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch

from vislite_common.backbones.encoder_weights import WRAPPERS, keep_subtree
from vislite_common.checkpoint import CheckpointError, remap_state_dict

log = logging.getLogger(__name__)

Model = TypeVar("Model")

MODEL_PREFIX = "model."
"""The attribute holding the MAE in MAE-Lite's training wrapper and in vislite's LightningModule."""
STUDENT_PREFIX = "student."
"""The attribute holding the student MAE in vislite's distillation wrapper (D-MAE, D²-MAE), beside its teacher."""


def to_mae_keys(
    state_dict: Mapping[str, torch.Tensor],
    *,
    outside_encoder: tuple[str, ...],
    rename_encoder_key: Callable[[str], str] = lambda key: key,
) -> dict[str, torch.Tensor]:
    """Map a checkpoint's keys onto a vislite MAE's: keys starting with ``outside_encoder`` (decoder, mask token)
    stay, the others go under ``encoder.`` (after ``rename_encoder_key``, e.g. reference -> timm names)."""
    state = remap_state_dict(state_dict, strip_prefixes=WRAPPERS)
    for prefix in (MODEL_PREFIX, STUDENT_PREFIX):
        state = keep_subtree(state, prefix)
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        new = key if key.startswith(("encoder.", *outside_encoder)) else f"encoder.{rename_encoder_key(key)}"
        if new in out:
            raise CheckpointError(f"checkpoint holds {new!r} twice (in the reference and in vislite's layout)")
        out[new] = value
    return out


def create_named(models: Mapping[str, Callable[..., Model]], name: str, kind: str, **kwargs: Any) -> Model:
    """``models[name](**kwargs)``, with a ``KeyError`` listing the available ``kind`` names for an unknown one."""
    try:
        factory = models[name]
    except KeyError:
        raise KeyError(f"unknown {kind} model {name!r}; available: {sorted(models)}") from None
    return factory(**kwargs)

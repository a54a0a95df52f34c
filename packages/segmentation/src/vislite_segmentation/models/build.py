"""Builders that pick the backbone wrapper and the neck from the backbone's kind.

ViTs (``vislite_vit_*``) give four single-scale maps and go through :class:`FeaturePyramidNeck`; ResNets and
Hieras (``vislite_resnet*``, ``vislite_resnext*``, ``vislite_hiera_*``) already give a stride-4/8/16/32 pyramid and
feed the decode heads directly.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from typing import Any

import timm

from vislite_common.backbones import list_backbones  # importing it registers the vislite backbones in timm
from vislite_segmentation.models.backbone import DEFAULT_INDICES, ViTBackbone, build_vit_backbone
from vislite_segmentation.models.heads.base import DecodeHead
from vislite_segmentation.models.neck import FeaturePyramidNeck
from vislite_segmentation.models.pyramid import PYRAMID_STRIDES, PyramidBackbone
from vislite_segmentation.models.pyramid_weights import load_pyramid_weights
from vislite_segmentation.models.segmentor import EncoderDecoder

KINDS = {"vit": "vit", "resnet": "resnet", "hiera": "hiera"}
"""vislite-common module of a backbone's timm entry point -> its kind here."""


def backbone_kind(name: str) -> str:
    """``"vit"``, ``"resnet"`` or ``"hiera"`` for a vislite backbone name; ``ValueError`` for any other name."""
    supported = list_backbones()
    module = timm.models.model_entrypoint(name).__module__ if name in supported else ""
    kind = KINDS.get(module.rsplit(".", 1)[-1]) if module.startswith("vislite_common.backbones.") else None
    if kind is None:
        raise ValueError(f"unsupported backbone {name!r}; the segmentor takes: {', '.join(supported)}")
    return kind


def build_pyramid_backbone(
    name: str,
    *,
    img_size: int = 512,
    drop_path_rate: float = 0.1,
    init: str | os.PathLike | None = None,
    **model_kwargs: Any,
) -> PyramidBackbone:
    """A :class:`PyramidBackbone` over vislite ResNet / Hiera ``name``, optionally initialised from ``init``.

    ``img_size`` is a Hiera's fixed input size (a ResNet takes any size); ``None`` keyword arguments are dropped.
    """
    kind = backbone_kind(name)
    if kind == "vit":
        raise ValueError(f"{name!r} is a ViT; build it with build_vit_backbone")
    kwargs = {k: v for k, v in model_kwargs.items() if v is not None}
    if kind == "hiera":
        kwargs["img_size"] = img_size
    body = timm.create_model(name, pretrained=False, num_classes=0, drop_path_rate=drop_path_rate, **kwargs)
    backbone = PyramidBackbone(body=body, strides=PYRAMID_STRIDES)
    if init is not None:
        load_pyramid_weights(backbone.body, init)
    return backbone


def build_backbone(
    name: str = "vislite_vit_tiny",
    *,
    img_size: int = 512,
    indices: Sequence[int] | None = None,
    drop_path_rate: float = 0.1,
    init_values: float | None = None,
    init: str | os.PathLike | None = None,
    **model_kwargs: Any,
) -> ViTBackbone | PyramidBackbone:
    """:func:`build_vit_backbone` for a ViT (``indices`` default: blocks 4, 6, 8, 12), else
    :func:`build_pyramid_backbone`; ``indices`` selects ViT blocks and is an error for the others."""
    if backbone_kind(name) == "vit":
        return build_vit_backbone(
            name,
            img_size=img_size,
            indices=DEFAULT_INDICES if indices is None else indices,
            drop_path_rate=drop_path_rate,
            init_values=init_values,
            init=init,
            **model_kwargs,
        )
    if indices is not None:
        raise ValueError(
            f"indices pick ViT blocks; {name!r} is hierarchical (its 4 stages are used): drop indices, "
            "e.g. with backbone=<entry of configs/backbone>"
        )
    return build_pyramid_backbone(
        name, img_size=img_size, drop_path_rate=drop_path_rate, init=init, init_values=init_values, **model_kwargs
    )


def _head(factory: Callable[..., DecodeHead], channels: list[int], strides: list[int]) -> DecodeHead:
    """Call a head factory (a class or ``functools.partial``) with the pyramid's widths (and strides if taken)."""
    params = inspect.signature(factory).parameters
    kwargs: dict[str, Any] = {"in_channels": channels}
    if "strides" in params:
        kwargs["strides"] = strides
    return factory(**kwargs)


def build_segmentor(
    *,
    backbone: ViTBackbone | PyramidBackbone,
    decode_head: Callable[..., DecodeHead],
    auxiliary_head: Callable[..., DecodeHead] | None = None,
    neck_channels: int | None = None,
    aux_weight: float = 0.4,
) -> EncoderDecoder:
    """An :class:`EncoderDecoder` whose neck and head widths follow ``backbone``.

    A ViT gets a :class:`FeaturePyramidNeck` (``neck_channels`` wide, default ``embed_dim // 4``); a pyramid
    backbone none. ``decode_head`` / ``auxiliary_head`` are head factories (Hydra ``_partial_: true``) called
    with ``in_channels`` (and ``strides`` for the Semantic FPN head).
    """
    if isinstance(backbone, ViTBackbone):
        neck = FeaturePyramidNeck(in_channels=backbone.embed_dim, out_channels=neck_channels)
        channels = [neck.out_channels] * len(neck.scales)
        strides = [round(backbone.patch_size / scale) for scale in neck.scales]
    elif isinstance(backbone, PyramidBackbone):
        neck, channels, strides = None, list(backbone.out_channels), list(backbone.strides)
    else:
        raise TypeError(f"expected a ViTBackbone or PyramidBackbone, got {type(backbone).__name__}")
    return EncoderDecoder(
        backbone=backbone,
        neck=neck,
        decode_head=_head(decode_head, channels, strides),
        auxiliary_head=None if auxiliary_head is None else _head(auxiliary_head, channels, strides),
        aux_weight=aux_weight,
    )

"""ViTDet's simple feature pyramid over a plain ViT (timm ``forward_intermediates``), for FPN-style heads."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence

import timm
from timm.layers import LayerNorm2d
from torch import Tensor, nn
from torchvision.ops.feature_pyramid_network import ExtraFPNBlock

import vislite_common  # noqa: F401  (registers the vislite ViTs in timm)
from vislite_detection.models.resnet_fpn import extra_fpn_levels
from vislite_detection.models.vit_weights import load_vit_encoder


def _rescale(dim: int, scale: float) -> tuple[nn.Module, int]:
    """The resampling stage of one pyramid level and its output width (ViTDet: deconvs up, max-pool down)."""
    if scale == 4.0:
        stage = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 2, 2, stride=2),
            LayerNorm2d(dim // 2),
            nn.GELU(),
            nn.ConvTranspose2d(dim // 2, dim // 4, 2, stride=2),
        )
        return stage, dim // 4
    if scale == 2.0:
        return nn.ConvTranspose2d(dim, dim // 2, 2, stride=2), dim // 2
    if scale == 1.0:
        return nn.Identity(), dim
    if scale == 0.5:
        return nn.MaxPool2d(2, stride=2), dim
    raise ValueError(f"pyramid scale factors must be among 4, 2, 1, 0.5; got {scale}")


class SimpleFeaturePyramid(nn.Module):
    """Multi-scale maps from the last block of a plain ViT (Li et al., ViTDet, 2022).

    The stride-16 token map of the last block is resampled by each of ``scale_factors`` (4 -> stride 4, 2 ->
    stride 8, 1 -> 16, 0.5 -> 32), then projected to ``out_channels`` by a 1x1 and a 3x3 conv, each followed by
    a channels-first LayerNorm. ``extra`` adds coarser levels from the last one (``LastLevelP6P7`` for FCOS,
    ``LastLevelMaxPool`` for Faster R-CNN). Outputs are named ``"0"``, ``"1"``, ... as torchvision's FPN names
    them; ``out_channels`` is the attribute torchvision detectors read.
    """

    def __init__(
        self,
        *,
        encoder: nn.Module,
        scale_factors: Sequence[float] = (2.0, 1.0, 0.5),
        out_channels: int = 256,
        extra: ExtraFPNBlock | None = None,
    ) -> None:
        super().__init__()
        if not hasattr(encoder, "forward_intermediates"):
            raise TypeError(f"{type(encoder).__name__} has no forward_intermediates(); expected a timm ViT")
        self.encoder = encoder
        self.encoder.prune_intermediate_layers(indices=1, prune_norm=True, prune_head=True)
        dim = int(encoder.embed_dim)
        stages = []
        for scale in scale_factors:
            rescale, width = _rescale(dim, float(scale))
            stages.append(
                nn.Sequential(
                    rescale,
                    nn.Conv2d(width, out_channels, 1, bias=False),
                    LayerNorm2d(out_channels),
                    nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
                    LayerNorm2d(out_channels),
                )
            )
        self.stages = nn.ModuleList(stages)
        self.extra = extra
        self.out_channels = out_channels

    def forward(self, images: Tensor) -> OrderedDict[str, Tensor]:
        tokens = self.encoder.forward_intermediates(images, indices=1, norm=False, intermediates_only=True)[-1]
        # tokens: [B, C, H/16, W/16] (the last block, prefix tokens dropped)
        levels = [stage(tokens) for stage in self.stages]
        names = [str(i) for i in range(len(levels))]
        if self.extra is not None:
            levels, names = self.extra(levels, levels, names)
        return OrderedDict(zip(names, levels))


def vit_sfp(
    *,
    name: str = "vislite_vit_tiny",
    init: str | os.PathLike | None = None,
    img_size: int = 224,
    drop_path_rate: float = 0.1,
    scale_factors: Sequence[float] = (2.0, 1.0, 0.5),
    extra: str = "p6p7",
    out_channels: int = 256,
) -> SimpleFeaturePyramid:
    """A timm ViT ``name`` (any input size; position table at ``img_size``) with a simple feature pyramid.

    ``init`` is a local pre-trained encoder (vislite MAE-lite checkpoint, MAE-Lite release, timm state dict).
    """
    encoder = timm.create_model(
        name, num_classes=0, img_size=img_size, dynamic_img_size=True, drop_path_rate=drop_path_rate
    )
    if init is not None:
        load_vit_encoder(encoder, init)
    return SimpleFeaturePyramid(
        encoder=encoder,
        scale_factors=scale_factors,
        out_channels=out_channels,
        extra=extra_fpn_levels(extra, out_channels),
    )


def vit_p3_p7(
    *,
    name: str = "vislite_vit_tiny",
    init: str | os.PathLike | None = None,
    img_size: int = 224,
    drop_path_rate: float = 0.1,
    out_channels: int = 256,
) -> SimpleFeaturePyramid:
    """The one-stage detectors' ViT pyramid (FCOS, PDNet, RDSNet): P3-P5 from the stride-16 map (x2, x1, x0.5),
    P6-P7 by convolutions; any registered ViT ``name``."""
    return vit_sfp(name=name, init=init, img_size=img_size, drop_path_rate=drop_path_rate,
                   scale_factors=(2.0, 1.0, 0.5), extra="p6p7", out_channels=out_channels)


def tiny_vit_p3_p6(*, init: str | os.PathLike | None = None) -> SimpleFeaturePyramid:
    """The tiny one-stage pyramid for tests: the 4-block test ViT (patch 8) at 32 px, P3-P6 with 32 channels."""
    return vit_sfp(name="test_vislite_vit", init=init, img_size=32, drop_path_rate=0.0, scale_factors=(1.0, 0.5),
                   extra="p6p7", out_channels=32)

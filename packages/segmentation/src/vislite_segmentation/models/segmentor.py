"""The encoder-decoder segmentor: backbone -> feature-pyramid neck (ViTs only) -> decode head (+ auxiliary head)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from vislite_segmentation.models.backbone import ViTBackbone
from vislite_segmentation.models.heads.base import DecodeHead, resize
from vislite_segmentation.models.pyramid import PyramidBackbone

HEADS = r"^(?:neck|decode_head|auxiliary_head)\."


class EncoderDecoder(nn.Module):
    """``forward(images)`` gives class logits at the input's size, ``forward(images, labels)`` the losses.

    The total loss is ``loss_decode + aux_weight * loss_aux`` (mmseg's UperNet configs: ``loss_weight`` 1.0 on the
    decode head, 0.4 on the auxiliary FCN head; ``loss_aux`` is logged unweighted). Layer-wise lr decay sees
    the ViT's layers through :meth:`group_matcher`: embeddings id 0, block ``k`` id ``k + 1``, and the neck and
    heads one id above the last block (mmseg's ``LayerDecayOptimizerConstructor``). A pyramid backbone (ResNet,
    Hiera) has no neck (``neck=None``) and brings its own layer ids (``layer_ids()``), the heads again one above.
    """

    def __init__(
        self,
        *,
        backbone: ViTBackbone | PyramidBackbone,
        neck: nn.Module | None,
        decode_head: DecodeHead,
        auxiliary_head: DecodeHead | None = None,
        aux_weight: float = 0.4,
    ) -> None:
        super().__init__()
        self.backbone, self.neck, self.decode_head = backbone, neck, decode_head
        self.auxiliary_head = auxiliary_head
        self.aux_weight = float(aux_weight)
        self.num_classes = decode_head.num_classes
        self.ignore_index = decode_head.ignore_index

    @property
    def size_divisor(self) -> int:
        """Input sides must be multiples of this (a ViT's patch size, a pyramid backbone's coarsest stride)."""
        return self.backbone.size_divisor

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Pyramid maps of ``images`` ``[B, 3, H, W]`` (strides 4, 8, 16, 32 for a patch-16 ViT or a pyramid)."""
        feats = self.backbone(images)
        return feats if self.neck is None else self.neck(feats)

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor | None = None
    ) -> torch.Tensor | dict[str, torch.Tensor]:
        """Logits ``[B, num_classes, H, W]`` (the head's stride-4 logits upsampled bilinearly); with ``labels``
        ``[B, H, W]``, the training losses of :meth:`compute_loss` instead."""
        if labels is not None:
            return self.compute_loss(images, labels)
        logits = self.decode_head(self.features(images))  # [B, K, H/4, W/4]
        # channels-last: bilinear upsampling (and the arg-max / window sums after it) run ~2x faster on CPUs
        return resize(logits.contiguous(memory_format=torch.channels_last), images.shape[-2:])

    def compute_loss(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"loss": total, "loss_decode": ..., ["loss_aux": ...]}`` for ``images`` and ``labels`` ``[B, H, W]``."""
        feats = self.features(images)
        losses = {"loss_decode": self.decode_head.compute_loss(self.decode_head(feats), labels)}
        total = losses["loss_decode"]
        if self.auxiliary_head is not None:
            losses["loss_aux"] = self.auxiliary_head.compute_loss(self.auxiliary_head(feats), labels)
            total = total + self.aux_weight * losses["loss_aux"]
        return {"loss": total, **losses}

    def group_matcher(self, coarse: bool = False) -> dict | Callable[[str], tuple[int]]:
        """timm-style parameter groups for layer-wise lr decay (see the class docstring): a regex dict for a ViT,
        a name -> ``(layer id,)`` function for a pyramid backbone."""
        if isinstance(self.backbone, PyramidBackbone):
            ids = {f"backbone.{name}": i for name, i in self.backbone.layer_ids().items()}
            last = max(ids.values()) + 1
            return lambda name: (ids.get(name, last),)
        return {
            "stem": r"^backbone\.vit\.(?:cls_token|reg_token|pos_embed|patch_embed|norm_pre)",
            "blocks": [
                (r"^backbone\.vit\.blocks\.(\d+)", None),
                (HEADS, (100000,)),  # after the blocks, not merged (99999 merges)
            ],
        }

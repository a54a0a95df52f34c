"""The distillation-token ViT classifier of MAE-Lite's distillation fine-tune and its frozen teacher."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from vislite_common.backbones import create_backbone
from vislite_common.lit.frozen import FrozenModule
from vislite_pretrain.weights import build_vit_classifier


class DistillTokenViT(nn.Module):
    """A global-pooling ViT classifier whose class token is a distillation token with its own norm and head.

    ``forward`` gives ``(logits, dist_logits)`` (each ``[B, K]``) in training and their mean in evaluation, as
    MAE-Lite's ``models_vit.VisionTransformer(global_pool=True, distilled=True)`` with timm's distilled head.
    """

    def __init__(self, *, vit: nn.Module) -> None:
        super().__init__()
        fc_norm, head = getattr(vit, "fc_norm", None), getattr(vit, "head", None)
        if not isinstance(getattr(vit, "norm", None), nn.Identity) or not isinstance(fc_norm, nn.LayerNorm):
            raise ValueError("DistillTokenViT needs a global-average-pooling ViT (fc_norm, no final norm)")
        if not isinstance(head, nn.Linear):
            raise ValueError("DistillTokenViT needs a ViT with a linear classifier (num_classes > 0)")
        self.vit = vit
        self.dist_norm = nn.LayerNorm(fc_norm.normalized_shape, eps=fc_norm.eps)
        self.head_dist = nn.Linear(head.in_features, head.out_features)
        nn.init.trunc_normal_(self.head_dist.weight, std=0.02)
        nn.init.zeros_(self.head_dist.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        tokens = self.vit.forward_features(images)  # [B, 1 + L, D]; the final norm is an identity
        prefix = int(getattr(self.vit, "num_prefix_tokens", 1))
        logits = self.vit.head(self.vit.fc_norm(tokens[:, prefix:].mean(dim=1)))  # [B, K]
        dist_logits = self.head_dist(self.dist_norm(tokens[:, 0]))  # [B, K]
        if self.training:
            return logits, dist_logits
        return (logits + dist_logits) / 2

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """Layer ids as MAE-Lite's ``get_num_layer_for_vit``: embeddings 0, block ``k`` -> ``k + 1``, the norms
        and both heads last."""
        return dict(stem=r"^vit\.(?:cls_token|pos_embed|patch_embed)", blocks=[(r"^vit\.blocks\.(\d+)", None)])


def build_distilled_vit_classifier(
    name: str = "vislite_vit_tiny",
    *,
    num_classes: int,
    img_size: int = 224,
    init: str | None = None,
    drop_path_rate: float = 0.0,
    **model_kwargs: Any,
) -> DistillTokenViT:
    """:func:`~vislite_pretrain.weights.build_vit_classifier` (global pooling) with a distillation token head."""
    vit = build_vit_classifier(
        name, num_classes=num_classes, img_size=img_size, init=init, drop_path_rate=drop_path_rate, **model_kwargs
    )
    return DistillTokenViT(vit=vit)


class FrozenTeacher(FrozenModule):
    """A classifier kept in eval mode with no trainable parameters (``train()`` does not change it).

    A :class:`~vislite_common.lit.frozen.FrozenModule`: its weights are left out of the fine-tuning checkpoints (the
    teacher is rebuilt from ``teacher.path`` on every run and resume; loading stays strict for the rest).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model  # frozen on assignment

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)


def load_classifier_teacher(
    path: str | os.PathLike, *, name: str = "regnety_160", num_classes: int = 1000, **kwargs: Any
) -> FrozenTeacher:
    """The teacher classifier ``name`` (any timm model; MAE-Lite's is ``regnety_160``, DeiT's teacher) with the
    weights of the local file ``path`` (nothing is downloaded); frozen."""
    return FrozenTeacher(create_backbone(name, pretrained=path, num_classes=num_classes, **kwargs))

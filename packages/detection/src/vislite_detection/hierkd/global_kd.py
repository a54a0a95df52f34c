"""Global-level (caption ↔ image) distillation: k×k pooled patches per level, text attention, symmetric CE."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from vislite_detection.hierkd.logits import l2_normalise


def pool_patches(feat: torch.Tensor, patch: int, pool: str) -> torch.Tensor:
    """(B, D, H, W) map → (B, patch², D) re-normalised patch embeddings (adaptive max or mean pooling)."""
    if pool == "max":
        pooled = F.adaptive_max_pool2d(feat, (patch, patch))
    elif pool == "mean":
        pooled = F.adaptive_avg_pool2d(feat, (patch, patch))
    else:
        raise ValueError(f"dist_featuremap_pool must be 'max' or 'mean', got {pool!r}")
    pooled = l2_normalise(pooled.permute(0, 2, 3, 1))  # (B, k, k, D)
    return pooled.reshape(feat.shape[0], patch * patch, feat.shape[1])  # (B, k², D)


def global_kd_loss(
    cls_feats: Sequence[torch.Tensor],
    text_feats: torch.Tensor,
    *,
    dist_featuremap_tem: float | torch.Tensor = 10.0,
    dist_featuremap_patch: int = 3,
    dist_featuremap_pool: str = "max",
) -> torch.Tensor:
    """Symmetric contrastive loss between captions and images over the batch.

    ``cls_feats``: per level unit-norm embedding maps (B, D, H_l, W_l); ``text_feats`` (B, D), row i = the
    caption of image i. For each (caption t, image i): attention = softmax over all L·k² patches of image i of
    ⟨t, patch⟩ (no temperature); feature = normalised attention-weighted patch sum; score = τ·⟨feature, t⟩.
    Loss = CE(image→text) + CE(text→image) with diagonal targets (each a batch mean).
    """
    if len(cls_feats) == 0:
        raise ValueError("global_kd_loss needs at least one level")
    b = text_feats.shape[0]
    patches = []
    for lvl, feat in enumerate(cls_feats):
        if feat.dim() != 4 or feat.shape[0] != b or feat.shape[1] != text_feats.shape[1]:
            raise ValueError(
                f"level {lvl}: expected a (B={b}, D={text_feats.shape[1]}, H, W) map, got {tuple(feat.shape)}"
            )
        patches.append(pool_patches(feat, dist_featuremap_patch, dist_featuremap_pool))
    patch_feats = torch.cat(patches, dim=1)  # (B_img, L·k², D)
    response = torch.einsum("td,ipd->tip", text_feats, patch_feats)  # (B_txt, B_img, L·k²)
    attention = response.softmax(dim=-1)
    text_img = torch.einsum("tip,ipd->tid", attention, patch_feats)  # (B_txt, B_img, D)
    text_img = l2_normalise(text_img)
    text_img_match = dist_featuremap_tem * torch.einsum("tid,td->ti", text_img, text_feats)  # (B_txt, B_img)
    target = torch.arange(b, device=text_feats.device)
    return F.cross_entropy(text_img_match.t(), target) + F.cross_entropy(text_img_match, target)

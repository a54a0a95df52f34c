"""Text-space classification logits: cosine to fixed class text embeddings plus a background column, times tao."""

from __future__ import annotations

import torch

_EPS = 1e-10


def l2_normalise(x: torch.Tensor) -> torch.Tensor:
    """``x / (||x|| + 1e-10)`` along the last dimension (HierKD's normalisation, not ``F.normalize``)."""
    return x / (x.norm(dim=-1, keepdim=True) + _EPS)


def text_logits(
    cls_embeds: torch.Tensor,
    text_embeds: torch.Tensor,
    bg_embed: torch.Tensor,
    *,
    tao: float | torch.Tensor = 100.0,
    background_embedding_fix: bool = False,
) -> torch.Tensor:
    """Logits (N, C+1) of per-anchor embeddings against C class text embeddings, background column last.

    ``cls_embeds`` (N, D) is normalised here as x/(||x||+1e-10); ``text_embeds`` (C, D) is used as given
    (stored unit-norm); ``bg_embed`` (D,) or (1, D) is normalised the same way, or ignored when
    ``background_embedding_fix`` (the background logit is then the constant 0.2). All times ``tao``.
    """
    if cls_embeds.dim() != 2 or text_embeds.dim() != 2:
        raise ValueError(
            f"cls_embeds must be (N, D) and text_embeds (C, D); got {tuple(cls_embeds.shape)} and "
            f"{tuple(text_embeds.shape)}"
        )
    if cls_embeds.shape[1] != text_embeds.shape[1]:
        raise ValueError(
            f"embedding width mismatch: cls_embeds has D={cls_embeds.shape[1]}, text_embeds D={text_embeds.shape[1]}"
        )
    e = l2_normalise(cls_embeds)
    fore = e @ text_embeds.to(e.dtype).t()  # (N, C)
    if background_embedding_fix:
        bg = torch.full_like(e[:, :1], 0.2)  # (N, 1)
    else:
        b = l2_normalise(bg_embed.reshape(1, -1).to(e.dtype))  # (1, D)
        if b.shape[1] != e.shape[1]:
            raise ValueError(f"bg_embed has D={b.shape[1]}, expected {e.shape[1]}")
        bg = e @ b.t()  # (N, 1)
    return tao * torch.cat((fore, bg), dim=-1)

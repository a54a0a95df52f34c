"""Softmax focal classification loss over seen classes + background with per-level negative subsampling."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def sample_negatives(
    labels: torch.Tensor, num_classes: int, fraction: float, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random ``int(fraction * #neg)`` row indices among the rows that are not positive (label == num_classes).

    ``fraction == 0`` keeps as many negatives as positives (the official "1:1" mode).
    """
    pos = (labels >= 0) & (labels < num_classes)
    neg_inds = torch.nonzero(~pos).squeeze(1)
    if fraction == 0:
        k = int(pos.sum())
    else:
        k = int(fraction * len(neg_inds))
    perm = torch.randperm(len(neg_inds), generator=generator)[:k].to(neg_inds.device)
    return neg_inds[perm]


def softmax_focal_cls_loss(
    cls_scores: Sequence[torch.Tensor],
    labels: Sequence[torch.Tensor],
    sampled_neg_inds: Sequence[torch.Tensor | None] | None,
    *,
    num_total_samples: float,
    cls_weight: float | torch.Tensor = 1.0,
    gamma: float = 2.0,
    alpha: float = 0.25,
    label_weights: Sequence[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Σ_l (1/exp(cls_weight)) · Σ_{rows} w·α(1−e^(−ce))^γ·ce / num_total_samples.

    Per FPN level l: ``cls_scores[l]`` (N_l, C+1) logits with the background column last, ``labels[l]`` (N_l,)
    in [0, C] (C = background), ``sampled_neg_inds[l]`` the kept negative rows as indices or a boolean row mask
    (``None`` = every row is kept).
    Rows are positives ∪ sampled negatives; a level without positives contributes 0. The |w| term is separate.
    """
    if len(cls_scores) != len(labels):
        raise ValueError(f"{len(cls_scores)} levels of cls_scores but {len(labels)} levels of labels")
    if sampled_neg_inds is None:
        sampled_neg_inds = [None] * len(cls_scores)
    if len(sampled_neg_inds) != len(cls_scores):
        raise ValueError(f"sampled_neg_inds has {len(sampled_neg_inds)} levels, expected {len(cls_scores)}")
    total = None
    for lvl, (score, label) in enumerate(zip(cls_scores, labels)):
        score = score.reshape(-1, score.shape[-1])  # (N_l, C+1)
        label = label.reshape(-1).long()
        if score.shape[0] != label.shape[0]:
            raise ValueError(f"level {lvl}: {score.shape[0]} score rows but {label.shape[0]} labels")
        num_classes = score.shape[1] - 1
        pos_inds = torch.nonzero((label >= 0) & (label < num_classes)).squeeze(1)
        if len(pos_inds) == 0:
            level_loss = score.sum() * 0
        else:
            ce = F.cross_entropy(score, label, reduction="none")  # (N_l,)
            focal = alpha * (1 - torch.exp(-ce)) ** gamma * ce
            if label_weights is not None:
                focal = focal * label_weights[lvl].reshape(-1).to(focal.dtype)
            neg = sampled_neg_inds[lvl]
            if neg is not None:
                neg = neg.reshape(-1).to(pos_inds.device)
                if neg.dtype == torch.bool:  # a row mask instead of indices
                    neg = torch.nonzero(neg).squeeze(1)
                keep = torch.cat((pos_inds, neg.long()))
                focal = focal[keep]
            level_loss = focal.sum() / num_total_samples
        level_loss = 1 / torch.exp(torch.as_tensor(cls_weight, dtype=score.dtype, device=score.device)) * level_loss
        total = level_loss if total is None else total + level_loss
    if total is None:
        raise ValueError("softmax_focal_cls_loss needs at least one level")
    return total

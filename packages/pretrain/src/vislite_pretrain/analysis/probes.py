"""Per-layer linear probes: how linearly separable the classes are at every layer of a frozen ViT.

Each layer's tokens (the norm1 outputs and the final norm's, as for CKA) are pooled per image (mean of the patch
tokens, or the class token), standardised with the training set's statistics (the parameter-free BatchNorm of
the MAE probing protocol) and fed to a multinomial logistic regression with L2 penalty, fitted full-batch with
L-BFGS on the training split (the penalty chosen per layer on a hold-out of it). The score is top-1 accuracy on
the validation split. Full-batch fitting keeps all training features in memory: for large datasets, draw a
subset of the training split (``vislite-analyze probe --num-train``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from vislite_pretrain.analysis.features import pooled_layer_features

STANDARDISE_EPS = 1e-6
WEIGHT_DECAYS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
"""Default L2 penalties tried per layer (chosen on a hold-out of the training split)."""


@torch.no_grad()
def extract_layer_features(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    pool: str = "avg",
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str = "features",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled features of every layer and the labels: ``([N, layers, C], [N])`` on the CPU."""
    model.eval().to(device)
    features, labels = [], []
    for images, targets in tqdm(batches, desc=desc, unit="batch", disable=not progress):
        features.append(pooled_layer_features(model, images.to(device), pool).float().cpu())  # [B, layers, C]
        labels.append(torch.as_tensor(targets))
    if not features:
        raise ValueError("no images to extract features from: the image loader is empty")
    return torch.cat(features), torch.cat(labels)


def fit_linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    *,
    num_classes: int,
    weight_decay: float = 1e-4,
    max_iter: int = 200,
) -> nn.Module:
    """A standardise-then-linear classifier ``[N, C] -> [N, num_classes]`` fitted on ``(train_x, train_y)``.

    Minimises mean cross-entropy + ``weight_decay / 2 * ||W||^2`` with L-BFGS (strong Wolfe line search) from
    zero weights, so the result is deterministic.
    """
    if train_x.ndim != 2 or train_x.shape[0] != train_y.shape[0]:
        raise ValueError(f"expected features [N, C] and labels [N], got {tuple(train_x.shape)}, {tuple(train_y.shape)}")
    x = train_x.double()
    mean, std = x.mean(dim=0), x.std(dim=0, unbiased=False)
    norm = nn.BatchNorm1d(x.shape[1], eps=STANDARDISE_EPS, affine=False).double().eval()
    norm.running_mean.copy_(mean)
    norm.running_var.copy_(std**2)
    linear = nn.Linear(x.shape[1], num_classes).double()
    nn.init.zeros_(linear.weight)
    nn.init.zeros_(linear.bias)
    inputs = norm(x)
    optimizer = torch.optim.LBFGS(linear.parameters(), lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(linear(inputs), train_y) + 0.5 * weight_decay * linear.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return nn.Sequential(norm, linear).float().eval()


@torch.no_grad()
def accuracy(probe: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of ``probe`` on features ``x`` ``[N, C]`` with labels ``y`` ``[N]``."""
    return float((probe(x.float()).argmax(dim=1) == y).double().mean())


def select_weight_decay(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    num_classes: int,
    candidates: Sequence[float],
    max_iter: int = 200,
    holdout: float = 0.2,
    seed: int = 0,
) -> float:
    """The L2 penalty among ``candidates`` with the best accuracy on a seeded ``holdout`` share of ``(x, y)``
    after fitting on the rest (ties go to the stronger penalty)."""
    if not candidates:
        raise ValueError("no weight-decay candidates given")
    if len(candidates) == 1:
        return float(candidates[0])
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    cut = max(1, int(round(holdout * len(y))))
    held, kept = order[:cut], order[cut:]
    if len(kept) == 0:
        raise ValueError(f"{len(y)} training examples are too few to hold out {holdout:.0%} for choosing the penalty")
    scores = {}
    for decay in sorted(candidates, reverse=True):
        probe = fit_linear_probe(x[kept], y[kept], num_classes=num_classes, weight_decay=decay, max_iter=max_iter)
        scores[decay] = accuracy(probe, x[held], y[held])
    return float(max(scores, key=lambda decay: (scores[decay], decay)))


@dataclass
class ProbeResult:
    """Per-layer probe accuracy (layer 0 = patch embedding, last = final norm) and the penalty each layer used."""

    train_acc: list[float]
    val_acc: list[float]
    weight_decay: list[float]
    num_train: int
    num_val: int
    num_classes: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dict(self.__dict__)


def layerwise_probe(
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    *,
    num_classes: int,
    weight_decay: Sequence[float] = WEIGHT_DECAYS,
    max_iter: int = 200,
    progress: bool = True,
) -> ProbeResult:
    """Fit one probe per layer on ``train`` features ``([N, layers, C], [N])`` and score it on ``val``.

    With several ``weight_decay`` values, each layer's penalty is chosen on a hold-out of the training features
    (:func:`select_weight_decay`) and the probe is then refitted on all of them; the validation split is only
    scored.
    """
    (train_x, train_y), (val_x, val_y) = train, val
    if train_x.shape[1:] != val_x.shape[1:]:
        raise ValueError(f"train and val features differ in shape: {tuple(train_x.shape)} vs {tuple(val_x.shape)}")
    train_acc, val_acc, chosen = [], [], []
    for layer in tqdm(range(train_x.shape[1]), desc="probes", unit="layer", disable=not progress):
        x = train_x[:, layer]
        decay = select_weight_decay(x, train_y, num_classes=num_classes, candidates=weight_decay, max_iter=max_iter)
        probe = fit_linear_probe(x, train_y, num_classes=num_classes, weight_decay=decay, max_iter=max_iter)
        train_acc.append(accuracy(probe, x, train_y))
        val_acc.append(accuracy(probe, val_x[:, layer], val_y))
        chosen.append(decay)
    return ProbeResult(
        train_acc=train_acc,
        val_acc=val_acc,
        weight_decay=chosen,
        num_train=len(train_y),
        num_val=len(val_y),
        num_classes=num_classes,
    )

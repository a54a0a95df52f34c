"""Layer representation similarity: minibatch CKA with the unbiased HSIC estimator (Nguyen et al., 2021).

For a minibatch of ``n`` examples with features ``X`` (flattened tokens x channels), the linear kernel is
``K = X X^T`` with its diagonal set to zero, and (Nguyen et al., Eq. 3)::

    HSIC_1(K, L) = [tr(K L) + (1^T K 1)(1^T L 1) / ((n-1)(n-2)) - 2/(n-2) * 1^T K L 1] / (n (n-3))

HSIC values are **averaged over minibatches before the ratio**::

    CKA(X, Y) = mean_b HSIC_1(K_b, L_b) / sqrt(mean_b HSIC_1(K_b, K_b) * mean_b HSIC_1(L_b, L_b))

as in MAE-Lite's ``rep_cmp_analyzer.py``. The estimator is invariant to isotropic scaling and orthogonal
transforms of the features (``CKA(X, 3 X Q) = 1``) and is near 0 for independent features. Minibatches need
``n >= 4``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import torch
from torch import nn
from tqdm import tqdm

from vislite_pretrain.analysis.features import layer_representations

log = logging.getLogger(__name__)

MIN_BATCH = 4
"""The unbiased HSIC estimator divides by ``n - 3``: smaller minibatches are skipped."""


def gram(features: torch.Tensor) -> torch.Tensor:
    """Linear kernel with zero diagonal, ``[n, n]`` in float64, of features ``[n, ...]`` flattened per example."""
    x = features.reshape(features.shape[0], -1).double()  # [n, D]
    kernel = x @ x.T  # [n, n]
    return kernel.fill_diagonal_(0.0)


def unbiased_hsic(grams_a: torch.Tensor, grams_b: torch.Tensor) -> torch.Tensor:
    """Unbiased HSIC between every pair of zero-diagonal kernels: ``[A, n, n] x [B, n, n] -> [A, B]``."""
    if grams_a.ndim != 3 or grams_b.ndim != 3 or grams_a.shape[1:] != grams_b.shape[1:]:
        shapes = f"{tuple(grams_a.shape)} and {tuple(grams_b.shape)}"
        raise ValueError(f"expected kernels [A, n, n] and [B, n, n] of the same n examples, got {shapes}")
    n = grams_a.shape[-1]
    if n < MIN_BATCH:
        raise ValueError(f"unbiased HSIC needs at least {MIN_BATCH} examples per minibatch, got {n}")
    trace = torch.einsum("aij,bij->ab", grams_a, grams_b)  # tr(K L), kernels are symmetric
    totals = grams_a.sum(dim=(1, 2))[:, None] * grams_b.sum(dim=(1, 2))[None, :]  # (1^T K 1)(1^T L 1)
    cross = grams_a.sum(dim=2) @ grams_b.sum(dim=2).T  # 1^T K L 1 = (K 1) . (L 1)
    return (trace + totals / ((n - 1) * (n - 2)) - 2.0 * cross / (n - 2)) / (n * (n - 3))


class MinibatchCKA:
    """Accumulates minibatch HSIC between ``num_a`` layers of one model and ``num_b`` layers of another."""

    def __init__(self, num_a: int, num_b: int) -> None:
        self.cross = torch.zeros(num_a, num_b, dtype=torch.float64)  # sum_b HSIC(K_i, L_j)
        self.self_a = torch.zeros(num_a, dtype=torch.float64)  # sum_b HSIC(K_i, K_i)
        self.self_b = torch.zeros(num_b, dtype=torch.float64)  # sum_b HSIC(L_j, L_j)
        self.num_batches = 0

    def update(self, features_a: Sequence[torch.Tensor], features_b: Sequence[torch.Tensor]) -> None:
        """Add one minibatch: per-layer features ``[n, ...]`` of the same ``n`` examples for both models."""
        if (len(features_a), len(features_b)) != tuple(self.cross.shape):
            raise ValueError(f"expected {tuple(self.cross.shape)} layers, got ({len(features_a)}, {len(features_b)})")
        grams_a = torch.stack([gram(f) for f in features_a])  # [A, n, n]
        grams_b = torch.stack([gram(f) for f in features_b])  # [B, n, n]
        self.cross += unbiased_hsic(grams_a, grams_b).cpu()
        self.self_a += unbiased_hsic(grams_a, grams_a).diagonal().cpu()
        self.self_b += unbiased_hsic(grams_b, grams_b).diagonal().cpu()
        self.num_batches += 1

    def compute(self) -> torch.Tensor:
        """CKA ``[num_a, num_b]`` from the minibatch-averaged HSIC values (NaN where a layer has no variance)."""
        if self.num_batches == 0:
            raise ValueError(f"no minibatch of at least {MIN_BATCH} examples was added")
        cross = self.cross / self.num_batches  # minibatch-averaged HSIC, before the ratio
        self_a, self_b = self.self_a / self.num_batches, self.self_b / self.num_batches
        if (self_a <= 0).any() or (self_b <= 0).any():
            log.warning("layers with non-positive self-HSIC (constant features?) get CKA NaN")
        denominator = (self_a.clamp(min=0)[:, None] * self_b.clamp(min=0)[None, :]).sqrt()
        return torch.where(denominator > 0, cross / denominator, torch.full_like(cross, float("nan")))


def cka(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """CKA of two feature sets of the same examples (one minibatch; ``[n, ...]`` each, ``n >= 4``)."""
    accumulator = MinibatchCKA(1, 1)
    accumulator.update([features_a], [features_b])
    return float(accumulator.compute()[0, 0])


def _images(batch: torch.Tensor | tuple | list) -> torch.Tensor:
    return batch[0] if isinstance(batch, (tuple, list)) else batch


@torch.no_grad()
def layer_cka(
    model_a: nn.Module,
    model_b: nn.Module,
    batches: Iterable[torch.Tensor | tuple | list],
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> torch.Tensor:
    """CKA ``[layers_a, layers_b]`` between every layer of two ViTs (norm1 outputs and the final norm's, class
    token dropped, tokens x channels flattened) over the same ``batches`` of images."""
    model_a.eval().to(device)
    model_b.eval().to(device)
    accumulator: MinibatchCKA | None = None
    for batch in tqdm(batches, desc="cka", unit="batch", disable=not progress):
        images = _images(batch).to(device)
        if images.shape[0] < MIN_BATCH:
            log.info("skipping a minibatch of %d images (< %d)", images.shape[0], MIN_BATCH)
            continue
        layers_a = layer_representations(model_a, images)  # (depth_a + 1) x [n, L, C]
        layers_b = layer_representations(model_b, images)
        accumulator = accumulator or MinibatchCKA(len(layers_a), len(layers_b))
        accumulator.update(layers_a, layers_b)
    if accumulator is None:
        raise ValueError(f"no minibatch of at least {MIN_BATCH} images: raise the batch size or the image count")
    return accumulator.compute()

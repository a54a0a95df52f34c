"""Figures of the analysis: attention statistics per layer, CKA heatmaps, per-layer curves, attention maps."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch.nn import functional as F

from vislite_pretrain.analysis.attention import AttentionStats

_UNIT_LABELS = {"reference": "MAE-Lite units: patches x 14", "pixels": "pixels", "patches": "patches"}


def _save(figure: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_attention_statistics(stats: Mapping[str, AttentionStats], path: str | Path) -> Path:
    """Entropy and mean distance per layer: one dot per head, a line through the layer means, one colour a model."""
    if not stats:
        raise ValueError("no attention statistics to plot")
    figure, (entropy_axis, distance_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    units = {s.unit for s in stats.values()}
    for k, (label, result) in enumerate(stats.items()):
        colour = f"C{k % 10}"
        layers, heads = result.entropy.shape
        x = torch.arange(1, layers + 1)
        for axis, values in ((entropy_axis, result.entropy), (distance_axis, result.distance)):
            axis.scatter(x.repeat_interleave(heads), values.flatten(), s=9, alpha=0.35, color=colour)
            axis.plot(x, values.mean(dim=1), marker="o", color=colour, label=label)
    entropy_axis.set(xlabel="layer", ylabel="attention entropy (nats)", title="attention entropy")
    unit = _UNIT_LABELS.get(next(iter(units)), "") if len(units) == 1 else "mixed units"
    distance_axis.set(xlabel="layer", ylabel=f"mean attention distance ({unit})", title="attention distance")
    for axis in (entropy_axis, distance_axis):
        axis.set_ylim(bottom=0)
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
    return _save(figure, path)


def plot_cka_heatmap(matrix: torch.Tensor, label_a: str, label_b: str, path: str | Path) -> Path:
    """CKA ``[layers_a, layers_b]`` as a heatmap (rows: ``label_a``'s layers, bottom to top; colour 0 to 1)."""
    figure, axis = plt.subplots(figsize=(5.6, 4.8))
    image = axis.imshow(matrix.float().numpy(), origin="lower", cmap="magma", vmin=0.0, vmax=1.0)
    rows, cols = matrix.shape
    step_r, step_c = max(1, math.ceil(rows / 13)), max(1, math.ceil(cols / 13))
    axis.set_yticks(range(0, rows, step_r))
    axis.set_xticks(range(0, cols, step_c))
    axis.set(ylabel=f"layer of {label_a}", xlabel=f"layer of {label_b}", title=f"CKA: {label_a} vs {label_b}")
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    return _save(figure, path)


def plot_layer_curves(
    curves: Mapping[str, Sequence[float]],
    path: str | Path,
    *,
    ylabel: str,
    title: str,
    chance: float | None = None,
) -> Path:
    """One line per model of a per-layer quantity (layer 0 = patch embedding, last = final norm)."""
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for label, values in curves.items():
        axis.plot(range(len(values)), list(values), marker="o", label=label)
    if chance is not None:
        axis.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance")
    axis.set(xlabel="layer (0: patch embedding)", ylabel=ylabel, title=title)
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    return _save(figure, path)


def plot_attention_maps(images: torch.Tensor, maps: torch.Tensor, path: str | Path, *, title: str) -> Path:
    """Rows of an image and its per-head attention maps, each upsampled and overlaid on the image.

    ``images``: ``[K, 3, H, W]`` in ``[0, 1]``; ``maps``: ``[K, heads, rows, cols]``. Each map is scaled to its
    own maximum.
    """
    if images.shape[0] != maps.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {maps.shape[0]} sets of maps")
    count, heads = maps.shape[:2]
    size = images.shape[-2:]
    upsampled = F.interpolate(maps.float(), size=size, mode="nearest")  # [K, heads, H, W]
    upsampled = upsampled / upsampled.flatten(2).amax(dim=2).clamp(min=1e-12)[..., None, None]
    figure, axes = plt.subplots(count, heads + 1, figsize=(1.6 * (heads + 1), 1.6 * count + 0.4), squeeze=False)
    for row in range(count):
        picture = images[row].permute(1, 2, 0).numpy()  # [H, W, 3]
        axes[row, 0].imshow(picture)
        for head in range(heads):
            axes[row, head + 1].imshow(picture)
            axes[row, head + 1].imshow(upsampled[row, head].numpy(), cmap="inferno", alpha=0.65, vmin=0, vmax=1)
            if row == 0:
                axes[row, head + 1].set_title(f"head {head}", fontsize=8)
        for axis in axes[row]:
            axis.axis("off")
    axes[0, 0].set_title("image", fontsize=8)
    figure.suptitle(title, fontsize=10)
    return _save(figure, path)

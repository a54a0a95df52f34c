"""Figures of the demo: MAE reconstructions and training curves."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from vislite_pretrain.mae_lite.model import MaskedAutoencoderViT

_MEAN = torch.tensor(IMAGENET_DEFAULT_MEAN).view(1, 3, 1, 1)
_STD = torch.tensor(IMAGENET_DEFAULT_STD).view(1, 3, 1, 1)


@torch.no_grad()
def reconstruction_grid(model: MaskedAutoencoderViT, images: torch.Tensor, path: Path, seed: int = 0) -> Path:
    """Save rows of original / masked / reconstruction (+ visible patches pasted back) for normalised ``images``."""
    model.eval()
    patches = model.patchify(images)  # [N, L, p*p*3]
    noise = torch.rand(patches.shape[:2], generator=torch.Generator().manual_seed(seed))
    _, pred, mask = model(images, noise=noise)
    if model.norm_pix_loss:  # predictions are per-patch normalised: undo with the true patch statistics
        mean, var = patches.mean(-1, keepdim=True), patches.var(-1, keepdim=True)
        pred = pred * (var + 1.0e-6) ** 0.5 + mean
    recon = model.unpatchify(pred)
    keep = model.unpatchify(mask[..., None].expand_as(patches))  # 1 where masked
    masked = images * (1 - keep)
    pasted = images * (1 - keep) + recon * keep
    columns = {"original": images, "masked (75%)": masked, "reconstruction": recon, "+ visible": pasted}
    figure, axes = plt.subplots(len(images), len(columns), figsize=(2.2 * len(columns), 2.2 * len(images)))
    for col, (title, batch) in enumerate(columns.items()):
        shown = (batch * _STD + _MEAN).clamp(0, 1)
        if title.startswith("masked"):
            shown = shown * (1 - keep) + 0.5 * keep  # grey out removed patches
        for row in range(len(images)):
            axes[row, col].imshow(shown[row].permute(1, 2, 0).numpy())
            axes[row, col].axis("off")
        axes[0, col].set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def _series(rows: list[dict[str, str]], x: str, y: str) -> tuple[list[float], list[float]]:
    points = [(float(r[x]), float(r[y])) for r in rows if r.get(y) not in (None, "")]
    return [p[0] for p in points], [p[1] for p in points]


def training_curves(runs: dict[str, Path], path: Path) -> Path:
    """Plot the training loss (per step) and the validation metric (per epoch) of each run's CSV log."""
    figure, (loss_axis, val_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for name, run_dir in runs.items():
        csv_path = run_dir / "csv" / "metrics.csv"
        if not csv_path.is_file():
            continue
        rows = _read_csv(csv_path)
        loss_axis.plot(*_series(rows, "step", "train/loss_step"), label=name, alpha=0.8)
        metric = "val/loss" if name == "MAE-lite pre-training" else "val/acc"
        epochs, values = _series(rows, "epoch", metric)
        val_axis.plot([e + 1 for e in epochs], values, marker="o", label=f"{name} ({metric})")
    loss_axis.set(title="training loss", xlabel="step", yscale="log")
    val_axis.set(title="validation", xlabel="epoch")
    loss_axis.legend()
    val_axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path

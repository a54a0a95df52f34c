"""The ``vislite-analyze`` subcommands: each runs one analysis on loaded models and writes PNG, JSON and CSV."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from vislite_pretrain.analysis.attention import attention_statistics, cls_attention_maps
from vislite_pretrain.analysis.cka import layer_cka
from vislite_pretrain.analysis.data import denormalize, loader_classes, sample_paths
from vislite_pretrain.analysis.outputs import slug, write_csv, write_json
from vislite_pretrain.analysis.plots import (
    plot_attention_maps,
    plot_attention_statistics,
    plot_cka_heatmap,
    plot_layer_curves,
)
from vislite_pretrain.analysis.probes import extract_layer_features, layerwise_probe


@dataclass
class LoadedModel:
    """A model to analyse and where it came from."""

    label: str
    name: str
    checkpoint: str
    model: nn.Module

    def describe(self) -> dict[str, Any]:
        """JSON-ready provenance."""
        return {"checkpoint": self.checkpoint, "model": self.name, "img_size": int(self.model.patch_embed.img_size[0])}


def run_attention(
    models: list[LoadedModel], loader: DataLoader, out: Path, *, unit: str, device: str, progress: bool
) -> list[Path]:
    """Attention entropy and distance per layer and head of every model: one plot, one JSON, one CSV."""
    stats = {
        m.label: attention_statistics(m.model, loader, unit=unit, device=device, progress=progress) for m in models
    }
    rows = [
        (label, layer + 1, head, float(s.entropy[layer, head]), float(s.distance[layer, head]))
        for label, s in stats.items()
        for layer in range(s.entropy.shape[0])
        for head in range(s.entropy.shape[1])
    ]
    for label, s in stats.items():
        print(f"\n{label}: mean over heads per layer (distance in {unit} units)")
        for layer, (e, d) in enumerate(zip(s.entropy.mean(dim=1).tolist(), s.distance.mean(dim=1).tolist()), start=1):
            print(f"  layer {layer:>2}  entropy {e:6.3f}  distance {d:8.2f}")
    data = {m.label: {**m.describe(), **stats[m.label].to_dict()} for m in models}
    return [
        plot_attention_statistics(stats, out / "attention.png"),
        write_json(out / "attention.json", data),
        write_csv(out / "attention.csv", ["model", "layer", "head", "entropy", "distance"], rows),
    ]


def run_cka(models: list[LoadedModel], loader: DataLoader, out: Path, *, device: str, progress: bool) -> list[Path]:
    """CKA between every layer of the first model and every layer of each other one (itself if alone)."""
    reference, others = models[0], models[1:] or models[:1]
    written = []
    for other in others:
        matrix = layer_cka(reference.model, other.model, loader, device=device, progress=progress)  # [La, Lb]
        stem = f"cka_{slug(reference.label)}_vs_{slug(other.label)}"
        rows = [(i, j, float(matrix[i, j])) for i in range(matrix.shape[0]) for j in range(matrix.shape[1])]
        data = {
            "a": {"label": reference.label, **reference.describe()},
            "b": {"label": other.label, **other.describe()},
            "cka": matrix.tolist(),
            "num_images": len(loader.dataset),
        }
        print(
            f"\nCKA {reference.label} (rows) vs {other.label} (columns), last layer vs last layer: "
            f"{float(matrix[-1, -1]):.3f}"
        )
        written += [
            plot_cka_heatmap(matrix, reference.label, other.label, out / f"{stem}.png"),
            write_json(out / f"{stem}.json", data),
            write_csv(out / f"{stem}.csv", ["layer_a", "layer_b", "cka"], rows),
        ]
    return written


def run_attn_maps(
    models: list[LoadedModel], loader: DataLoader, out: Path, *, layers: list[int], device: str
) -> list[Path]:
    """Class-token attention maps per head over a few images, for each model and layer."""
    images = torch.cat([batch[0] for batch in loader])
    paths = sample_paths(loader)
    written = []
    for m in models:
        maps = cls_attention_maps(m.model.to(device), images.to(device), layers)  # {layer: [K, H, rows, cols]}
        data = {**m.describe(), "images": paths, "maps": {}}
        for layer, layer_maps in maps.items():
            title = f"{m.label}: class-token attention, layer {layer + 1} of {len(m.model.blocks)}"
            png = out / f"attn_maps_{slug(m.label)}_layer{layer + 1}.png"
            written.append(plot_attention_maps(denormalize(images), layer_maps.cpu(), png, title=title))
            data["maps"][f"layer{layer + 1}"] = layer_maps.cpu().tolist()
        written.append(write_json(out / f"attn_maps_{slug(m.label)}.json", data))
    return written


def run_probe(
    models: list[LoadedModel],
    train_loader: DataLoader,
    val_loader: DataLoader,
    out: Path,
    *,
    pool: str,
    weight_decay: list[float],
    max_iter: int,
    device: str,
    progress: bool,
) -> list[Path]:
    """A linear probe per layer of every model (trained on ``train_loader``, scored on ``val_loader``)."""
    num_classes = len(loader_classes(train_loader))
    results = {}
    for m in models:
        kwargs = dict(pool=pool, device=device, progress=progress)
        train = extract_layer_features(m.model, train_loader, desc=f"{m.label} train", **kwargs)
        val = extract_layer_features(m.model, val_loader, desc=f"{m.label} val", **kwargs)
        results[m.label] = layerwise_probe(
            train, val, num_classes=num_classes, weight_decay=weight_decay, max_iter=max_iter, progress=progress
        )
        accs = " ".join(f"{100 * a:.1f}" for a in results[m.label].val_acc)
        print(f"\n{m.label}: val top-1 (%) per layer 0..{len(results[m.label].val_acc) - 1}: {accs}")
    rows = [
        (label, layer, r.train_acc[layer], r.val_acc[layer])
        for label, r in results.items()
        for layer in range(len(r.val_acc))
    ]
    data = {m.label: {**m.describe(), **results[m.label].to_dict(), "pool": pool} for m in models}
    curves = {label: r.val_acc for label, r in results.items()}
    return [
        plot_layer_curves(
            curves,
            out / "probe.png",
            ylabel="val top-1 accuracy",
            title=f"per-layer linear probe ({pool} pooling)",
            chance=1.0 / num_classes,
        ),
        write_json(out / "probe.json", data),
        write_csv(out / "probe.csv", ["model", "layer", "train_acc", "val_acc"], rows),
    ]

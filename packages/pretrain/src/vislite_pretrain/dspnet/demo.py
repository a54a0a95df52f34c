"""``vislite-dspnet-demo``: DSPNet once at four widths against four individually pre-trained networks.

On the embedded world (the easier variant: flat backgrounds, one shape an image, 32 px), with the tiny bottleneck
ResNet: DSPNet pre-trains one slimmable network at widths 1.0 / 0.75 / 0.5 / 0.25; the baselines pre-train one
network per width by the same SSL objective alone, each for the same number of steps and batch (the same
per-network budget). Every width of both, and a randomly initialised network of that width, is then scored by a
linear probe on frozen features and by fine-tuning on a 10 % label subset; the table and the training times are
printed and written to ``<out>/results.json`` and ``<out>/results.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytorch_lightning as pl
import torch

from vislite_common.data.world import make_classification
from vislite_common.fileio import atomic_write_text
from vislite_common.lit.optim import OptimizerFactory
from vislite_common.lit.schedule import WarmupCosineSchedule
from vislite_pretrain.dspnet.augment import us3l_view_pair
from vislite_pretrain.dspnet.backbone import slim, slimmable_backbone
from vislite_pretrain.dspnet.evaluate import finetune_accuracy, probe_accuracy, split_loader
from vislite_pretrain.dspnet.model import DSPNet, build_dspnet
from vislite_pretrain.dspnet.module import DSPNetModule
from vislite_pretrain.dspnet.subsets import subset_file_name, write_label_subset
from vislite_pretrain.mocov3.data import WorldTwoViewDataModule

WIDTHS = (1.0, 0.75, 0.5, 0.25)
NUM_CLASSES = 8


@dataclass
class DemoSettings:
    """The demo's (and the learning test's) scaled-down recipe: world size, model, optimisation, evaluation."""

    image_size: int = 32
    train_per_class: int = 100
    val_per_class: int = 50
    backbone: str = "test_resnet"
    ssl: str = "mocov3"
    dim: int = 64
    hidden_dim: int = 128
    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-2
    weight_decay: float = 0.05
    crop_scale: tuple[float, float] = (0.5, 1.0)
    color_jitter: tuple[float, float, float, float] = (0.8, 0.8, 0.8, 0.5)
    grayscale_p: float = 0.5
    blur_p: float = 0.8
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    finetune_fraction: float = 0.1
    finetune_epochs: int = 15
    finetune_lr: float = 0.05
    seed: int = 0
    widths: tuple[float, ...] = field(default=WIDTHS)


def world(data_dir: str | Path, settings: DemoSettings) -> Path:
    """The easier classification world (flat backgrounds, no distractors) under ``data_dir``, generated once."""
    root = Path(data_dir) / "world_dspnet" / "classification"
    return make_classification(
        root,
        seed=settings.seed,
        image_size=settings.image_size,
        train_per_class=settings.train_per_class,
        val_per_class=settings.val_per_class,
        background="flat",
        max_distractors=0,
    )


def make_datamodule(root: Path, settings: DemoSettings) -> WorldTwoViewDataModule:
    """Two-view batches of the world with the demo's augmentation (US3L's, stronger colour, grey and blur)."""
    size = settings.image_size
    return WorldTwoViewDataModule(
        root=root,
        image_size=size,
        input_size=size,
        batch_size=settings.batch_size,
        train_per_class=settings.train_per_class,
        val_per_class=settings.val_per_class,
        background="flat",
        max_distractors=0,
        seed=settings.seed,
        views=us3l_view_pair(
            size,
            scale=settings.crop_scale,
            blur_p=(settings.blur_p, settings.blur_p),
            blur_sigma=settings.blur_sigma,
            color_jitter=settings.color_jitter,
            grayscale_p=settings.grayscale_p,
        ),
    )


def build_module(width_mults: Sequence[float], settings: DemoSettings) -> DSPNetModule:
    """A seeded DSPNet module over ``width_mults`` (one width: an individually pre-trained network)."""
    pl.seed_everything(settings.seed, verbose=False)
    model = build_dspnet(
        settings.backbone,
        width_mults=tuple(width_mults),
        ssl=settings.ssl,  # type: ignore[arg-type]
        dim=settings.dim,
        hidden_dim=settings.hidden_dim,
    )
    return DSPNetModule(
        model=model,
        optimizer=OptimizerFactory(name="adamw", lr=settings.lr, weight_decay=settings.weight_decay),
        scheduler=WarmupCosineSchedule(),
        num_random=max(0, len(width_mults) - 2),
        seed=settings.seed,
    )


def fit(module: DSPNetModule, root: Path, settings: DemoSettings) -> float:
    """Pre-train ``module`` on the world for ``settings.epochs``; returns the wall time in seconds."""
    trainer = pl.Trainer(
        max_epochs=settings.epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=make_datamodule(root, settings))
    return time.perf_counter() - start


def pretrain(root: Path, width_mults: Sequence[float], settings: DemoSettings) -> tuple[DSPNet, float]:
    """Pre-train a DSPNet over ``width_mults`` on the world; returns it and the wall time of fitting (s)."""
    module = build_module(width_mults, settings)
    seconds = fit(module, root, settings)
    return module.dsp, seconds


def evaluate_width(backbone: torch.nn.Module, root: Path, subset: Path, settings: DemoSettings) -> dict[str, float]:
    """Linear-probe and 10 %-label fine-tuning top-1 of one ordinary network."""
    size = settings.image_size
    train = split_loader(root, "train", img_size=size, batch_size=200)
    val = split_loader(root, "val", img_size=size, batch_size=200)
    labelled = split_loader(root, "train", img_size=size, batch_size=32, train_augment=True, subset_file=subset)
    probe = probe_accuracy(backbone, train, val, num_classes=NUM_CLASSES)
    tuned = finetune_accuracy(
        backbone, labelled, val, num_classes=NUM_CLASSES, epochs=settings.finetune_epochs, lr=settings.finetune_lr
    )
    return {"probe": probe, "finetune": tuned}


def run(out: Path, data_dir: Path, settings: DemoSettings) -> dict:
    """The whole demo; returns the results written to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    root = world(data_dir, settings)
    subset = out / subset_file_name(settings.finetune_fraction)
    write_label_subset(root / "train", settings.finetune_fraction, subset, seed=settings.seed)
    print(f"world: {root} ({settings.train_per_class} / {settings.val_per_class} images a class, 8 classes)")
    dsp, dsp_time = pretrain(root, settings.widths, settings)
    print(f"DSPNet, widths {list(settings.widths)}: {dsp_time:.1f} s")
    singles: dict[float, tuple[DSPNet, float]] = {}
    for width in settings.widths:
        singles[width] = pretrain(root, [width], settings)
        print(f"individual network ({settings.ssl}, no distillation), width {width}: {singles[width][1]:.1f} s")
    rows = []
    for width in settings.widths:
        torch.manual_seed(settings.seed)
        random_init = slim(slimmable_backbone(settings.backbone, width_mult=width), width)
        row = {
            "width": width,
            "dspnet": evaluate_width(slim(dsp.backbone, width), root, subset, settings),
            "individual": evaluate_width(slim(singles[width][0].backbone, width), root, subset, settings),
            "random_init": evaluate_width(random_init, root, subset, settings),
        }
        rows.append(row)
        print(_row_text(row), flush=True)
    results = {
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(settings).items()},
        "rows": rows,
        "time_s": {"dspnet": dsp_time, "individual_total": sum(t for _, t in singles.values())},
        "threads": torch.get_num_threads(),
    }
    atomic_write_text(out / "results.json", json.dumps(results, indent=2))
    table = markdown_table(results)
    atomic_write_text(out / "results.md", table)
    print(table)
    return results


def _row_text(row: dict) -> str:
    parts = [
        f"{name} {row[name]['probe']:.3f} / {row[name]['finetune']:.3f}"
        for name in ("dspnet", "individual", "random_init")
    ]
    return f"width {row['width']}: " + ", ".join(parts) + " (probe / 10% fine-tune)"


def markdown_table(results: dict) -> str:
    """The results as a Markdown table (top-1 in %, chance 12.5 %) with the training times."""
    lines = [
        "| width | DSPNet probe | individual probe | random-init probe "
        "| DSPNet 10% FT | individual 10% FT | random-init 10% FT |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        cells = [
            f"{100 * row[k][m]:.1f}" for m in ("probe", "finetune") for k in ("dspnet", "individual", "random_init")
        ]
        lines.append(f"| {row['width']} | " + " | ".join(cells) + " |")
    times = results["time_s"]
    lines.append("")
    lines.append(
        f"Pre-training wall time: DSPNet (all widths, once) {times['dspnet']:.1f} s; "
        f"four individual networks {times['individual_total']:.1f} s in total."
    )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/demo-dspnet"))
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--epochs", type=int, default=DemoSettings.epochs)
    parser.add_argument("--finetune-epochs", type=int, default=DemoSettings.finetune_epochs)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run(args.out, args.data_dir, DemoSettings(epochs=args.epochs, finetune_epochs=args.finetune_epochs, seed=args.seed))


def subsets_main(argv: Sequence[str] | None = None) -> None:
    """``vislite-dspnet-subsets <train dir> --out <dir>``: write ``1percent.txt`` and ``10percent.txt``."""
    parser = argparse.ArgumentParser(description="write deterministic 1% / 10% label-subset files of an ImageFolder")
    parser.add_argument("train_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.1])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for fraction in args.fractions:
        path = args.out / subset_file_name(fraction)
        lines = write_label_subset(args.train_dir, fraction, path, seed=args.seed)
        print(f"{path}: {len(lines)} images")


if __name__ == "__main__":
    main()

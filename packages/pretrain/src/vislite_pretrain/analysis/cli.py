"""``vislite-analyze``: attention statistics, layer CKA, attention maps and per-layer probes of pre-trained ViTs.

Examples (``--data`` is an ImageFolder root with ``train/`` and ``val/``)::

    vislite-analyze attention --ckpt mae.ckpt --ckpt deit.pth --label MAE --label DeiT --data data/imagenet
    vislite-analyze cka --ckpt teacher.pth --model vislite_vit_base --ckpt student.ckpt --model vislite_vit_tiny \\
        --data data/imagenet
    vislite-analyze attn-maps --ckpt mae.ckpt --layer 0 --layer -1 --images 4 --data data/imagenet
    vislite-analyze probe --ckpt mae.ckpt --data data/world/classification

Checkpoints: vislite Lightning checkpoints (MAE-lite, MoCo-v3, D-MAE, D²-MAE, fine-tuned classifiers), MAE-Lite and
MoCo-v3 releases, plain timm state dicts; ``--prefix momentum_encoder.`` picks another sub-module's weights.
``--model``, ``--label`` and ``--prefix`` are given once for all checkpoints or once per checkpoint. Results go to
``--out`` as PNG, JSON and CSV; their paths are printed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch

from vislite_pretrain.analysis.attention import DISTANCE_UNITS
from vislite_pretrain.analysis.commands import LoadedModel, run_attention, run_attn_maps, run_cka, run_probe
from vislite_pretrain.analysis.data import image_loader, loader_classes
from vislite_pretrain.analysis.models import load_vit
from vislite_pretrain.analysis.probes import WEIGHT_DECAYS


def _per_checkpoint(values: list[str] | None, count: int, flag: str, default: list[str]) -> list[str]:
    """``values`` given once (for all) or once per checkpoint; ``default`` when absent."""
    if not values:
        return default
    if len(values) == 1:
        return values * count
    if len(values) != count:
        raise SystemExit(
            f"vislite-analyze: {flag} is given {len(values)} times for {count} checkpoints; "
            f"give it once (for all) or once per --ckpt"
        )
    return values


def load_models(args: argparse.Namespace) -> list[LoadedModel]:
    """Load every ``--ckpt``; all models take the first one's input size unless ``--img-size`` is given."""
    count = len(args.ckpt)
    names = _per_checkpoint(args.model, count, "--model", ["vislite_vit_tiny"] * count)
    labels = _per_checkpoint(args.label, count, "--label", [Path(p).stem for p in args.ckpt])
    prefixes = _per_checkpoint(args.prefix, count, "--prefix", [""] * count)
    if len(set(labels)) != len(labels):
        raise SystemExit(f"vislite-analyze: labels must differ, got {labels}; pass --label once per --ckpt")
    models: list[LoadedModel] = []
    img_size = args.img_size
    for path, name, label, prefix in zip(args.ckpt, names, labels, prefixes):
        model = load_vit(path, name=name, img_size=img_size, prefix=prefix)
        img_size = int(model.patch_embed.img_size[0])
        models.append(LoadedModel(label=label, name=name, checkpoint=str(path), model=model))
    return models


def _device(choice: str) -> str:
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return choice


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", action="append", required=True, help="checkpoint file (repeat for more models)")
    parser.add_argument("--model", action="append", help="registered ViT name (default: vislite_vit_tiny)")
    parser.add_argument("--label", action="append", help="name in plots and files (default: the file's stem)")
    parser.add_argument("--prefix", action="append", help="take the weights under this key prefix")
    parser.add_argument("--data", type=Path, required=True, help="ImageFolder root holding <split>/<class>/*.jpg")
    parser.add_argument("--split", default="val", help="split the analysis runs on (default: val)")
    parser.add_argument("--num", type=int, default=1024, help="images drawn from the split (default: 1024)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--img-size", type=int, help="input size (default: the first checkpoint's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the image draw")
    parser.add_argument("--workers", type=int, default=0, help="data-loading worker processes")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1, ...")
    parser.add_argument("--out", type=Path, default=Path("outputs/analysis"), help="output folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subcommand per analysis."""
    parser = argparse.ArgumentParser(
        prog="vislite-analyze",
        description="Attention statistics, layer CKA, attention maps and per-layer probes of pre-trained ViTs.",
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    attention = commands.add_parser("attention", help="attention entropy and distance per layer and head")
    _common(attention)
    attention.add_argument(
        "--unit",
        choices=DISTANCE_UNITS,
        default="reference",
        help="distance unit: reference = grid distance x 14 (MAE-Lite's figures), pixels = x patch "
        "size, patches = grid distance (default: reference)",
    )
    cka = commands.add_parser("cka", help="CKA heatmap of every layer of the first model against each other model")
    _common(cka)
    maps = commands.add_parser("attn-maps", help="class-token attention per head over a few images")
    _common(maps)
    maps.add_argument("--images", type=int, default=4, help="number of images (default: 4)")
    maps.add_argument(
        "--layer",
        type=int,
        action="append",
        help="block index, 0-based, negative from the end (repeatable; default: -1); output files and "
        "titles number layers from 1, as the attention statistics do",
    )
    probe = commands.add_parser("probe", help="a linear probe on every layer's pooled features")
    _common(probe)
    probe.add_argument("--train-split", default="train", help="split the probes are fitted on (default: train)")
    probe.add_argument("--num-train", type=int, help="training images drawn (default: the whole split)")
    probe.add_argument("--pool", choices=("avg", "token"), default="avg", help="patch-token mean or class token")
    probe.add_argument(
        "--weight-decay",
        type=float,
        nargs="+",
        default=list(WEIGHT_DECAYS),
        help="L2 penalties; with several, each layer's is chosen on 20%% of the training split "
        f"(default: {' '.join(map(str, WEIGHT_DECAYS))})",
    )
    probe.add_argument("--max-iter", type=int, default=200, help="L-BFGS iterations per probe")
    return parser


def run(argv: Sequence[str] | None = None) -> list[Path]:
    """Run one analysis from command-line arguments; print and return the files written."""
    args = build_parser().parse_args(argv)
    models = load_models(args)
    img_size = int(models[0].model.patch_embed.img_size[0])
    device, progress, out = _device(args.device), not args.no_progress, args.out
    loader_args = dict(img_size=img_size, batch_size=args.batch_size, seed=args.seed, num_workers=args.workers)
    classes = None
    if args.command == "probe":
        train_loader = image_loader(args.data, args.train_split, num=args.num_train, **loader_args)
        classes = loader_classes(train_loader)
    num = args.images if args.command == "attn-maps" else args.num
    loader = image_loader(args.data, args.split, num=num, classes=classes, **loader_args)
    if args.command == "attention":
        written = run_attention(models, loader, out, unit=args.unit, device=device, progress=progress)
    elif args.command == "cka":
        written = run_cka(models, loader, out, device=device, progress=progress)
    elif args.command == "attn-maps":
        written = run_attn_maps(models, loader, out, layers=args.layer or [-1], device=device)
    else:
        written = run_probe(
            models,
            train_loader,
            loader,
            out,
            pool=args.pool,
            weight_decay=args.weight_decay,
            max_iter=args.max_iter,
            device=device,
            progress=progress,
        )
    print("\nwrote:")
    for path in written:
        print(f"  {path}")
    return written


def main(argv: Sequence[str] | None = None) -> None:
    """The ``vislite-analyze`` entry point."""
    run(argv)


if __name__ == "__main__":
    main()

"""``make demo``: pre-train MAE-lite on the embedded world, fine-tune and linear-probe it, compare with scratch.

Each stage is a ``vislite-pretrain`` run (the same command a user runs); the results table, a reconstruction
grid and the training curves are written to the output folder.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from vislite_common.data.classification import ImageFolderDataset
from vislite_common.data.transforms import build_classification_transform
from vislite_pretrain.demo.plots import reconstruction_grid, training_curves
from vislite_pretrain.demo.stages import last_checkpoint, run_stage
from vislite_pretrain.mae_lite.loading import load_mae_lite

STAGES = ("pretrain", "finetune", "linprobe", "scratch")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"), help="where runs, table and plots go")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="where the embedded world is written")
    parser.add_argument(
        "--exact",
        action="store_true",
        help="trainer.precision=32 throughout (default: "
        "precision=auto, bf16 only where the device multiplies bf16 faster than fp32)",
    )
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every stage")
    args = parser.parse_args(argv)
    out, data_dir = args.out.resolve(), args.data_dir.resolve()
    extra = [*(["trainer.precision=32"] if args.exact else []), *args.overrides]
    ckpt = last_checkpoint(out, "pretrain")

    start = time.time()
    metrics = {"pretrain": run_stage("pretrain", ["experiment=demo_pretrain"], out, data_dir, extra)}
    metrics["finetune"] = run_stage(
        "finetune", ["experiment=demo_finetune", f"model.model.init={ckpt}"], out, data_dir, extra
    )
    metrics["linprobe"] = run_stage(
        "linprobe", ["experiment=demo_linprobe", f"model.model.encoder.init={ckpt}"], out, data_dir, extra
    )
    metrics["scratch"] = run_stage(
        "scratch", ["experiment=demo_finetune", "model.model.init=null"], out, data_dir, extra
    )

    rows = [
        ("ViT-Tiny from scratch (same fine-tuning recipe)", metrics["scratch"]["test/acc"]),
        ("MAE-lite pre-training + fine-tuning", metrics["finetune"]["test/acc"]),
        ("MAE-lite pre-training + linear probe", metrics["linprobe"]["test/acc"]),
    ]
    lines = ["", "Embedded world, 8 shape classes (chance 12.5%), ViT-Tiny/16 at 64 px, held-out images, top-1:", ""]
    lines += [f"  {name:<50} {100 * acc:6.1f}%" for name, acc in rows]
    lines += ["", f"  MAE-lite reconstruction loss (val, norm-pix MSE): {metrics['pretrain']['val/loss']:.4f}"]
    (out / "results.txt").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    print("\n".join(lines))

    model = load_mae_lite(ckpt, model=instantiate(OmegaConf.load(out / "pretrain" / "config.yaml").model.model))
    size = model.encoder.patch_embed.img_size[0]
    dataset = ImageFolderDataset(
        data_dir / "world" / "classification" / "val",
        transform=build_classification_transform(input_size=size, is_training=False),
    )
    images = torch.stack([dataset[i][0] for i in range(0, len(dataset), len(dataset) // 6)][:6])
    grid = reconstruction_grid(model, images, out / "reconstructions.png")
    curves = training_curves(
        {
            "MAE-lite pre-training": out / "pretrain",
            "fine-tuning": out / "finetune",
            "linear probe": out / "linprobe",
            "scratch": out / "scratch",
        },
        out / "curves.png",
    )
    print(f"\n  reconstructions: {grid}\n  training curves: {curves}\n  table:           {out / 'results.txt'}")
    print(f"\n  total time: {(time.time() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()

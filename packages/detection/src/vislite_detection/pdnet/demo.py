"""``vislite-pdnet-demo``: the tiny PDNet and the tiny FCOS trained with the same budget on the embedded COCO
world, their held-out AP side by side, and PDNet's dynamic points drawn on a few detections.

The two runs are ``vislite-detection experiment=demo_pdnet`` and ``experiment=demo_detection`` (same images,
epochs, batch, optimiser and schedule). The table goes to ``table.md``, the pictures to ``points/``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from vislite_common.data.world import make_coco
from vislite_common.engine.compose import compose_config
from vislite_common.engine.train import train
from vislite_common.fileio import atomic_write_text
from vislite_detection.data import CocoDetection, eval_transforms
from vislite_detection.models import create_detector
from vislite_detection.pdnet.draw import draw_dynamic_points

RUNS = {"PDNet": "demo_pdnet", "FCOS": "demo_detection"}
STATS = ("AP", "AP50", "AP75", "APs", "APm")


def run(name: str, overrides: list[str], out: Path) -> tuple[dict[str, float], float]:
    """One ``vislite-detection`` run into ``out/name``: its metrics and wall-clock seconds."""
    print(f"\n=== {name}: vislite-detection {' '.join(overrides)}", flush=True)
    start = time.time()
    metrics = train(compose_config("vislite_detection.configs", overrides, output_dir=out / name))
    return {k: float(v) for k, v in metrics.items()}, time.time() - start


def table(results: dict[str, tuple[dict[str, float], float]], *, images: int, epochs: int) -> str:
    """A markdown table of held-out COCO statistics and training speed."""
    lines = [
        f"Embedded COCO world, {images} training images x {epochs} epochs, same optimiser and schedule:",
        "",
        "| detector | " + " | ".join(STATS) + " | run time (s) |",
        "|---|" + "---:|" * (len(STATS) + 1),
    ]
    for name, (metrics, seconds) in results.items():
        row = " | ".join(f"{100 * metrics.get(f'val/{s}', float('nan')):.1f}" for s in STATS)
        lines.append(f"| {name} | {row} | {seconds:.0f} |")
    return "\n".join(lines)


def draw_points(checkpoint: Path, root: Path, out: Path, *, scale: int, max_size: int, count: int) -> list[Path]:
    """PDNet's detections with their boundary and semantic points on the first ``count`` held-out images."""
    model = create_detector("test_pdnet", weights=checkpoint).eval()
    val = CocoDetection(
        image_dir=root / "val",
        ann_file=root / "annotations" / "instances_val.json",
        transforms=eval_transforms(scale=scale, max_size=max_size),
    )
    written = []
    for index in range(min(count, len(val))):
        image, target = val[index]
        with torch.no_grad():
            detections = model([image.as_subclass(torch.Tensor)])[0]
        path = out / "points" / f"{int(target['image_id']):012d}.png"
        drawn = draw_dynamic_points(image, detections, val.category_names, path)
        print(f"{path}: {drawn} detections with their points", flush=True)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/demo-pdnet"), help="runs, table and pictures")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="where the embedded world is written")
    parser.add_argument("--pictures", type=int, default=4, help="held-out images to draw PDNet's points on")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for both runs")
    args = parser.parse_args(argv)
    out, data_dir = args.out.resolve(), args.data_dir.resolve()
    common = [f"paths.data_dir={data_dir}", "trainer.enable_progress_bar=false", "test=false", *args.overrides]
    cfg = compose_config("vislite_detection.configs", [f"experiment={RUNS['PDNet']}", *common], output_dir=out)
    root = make_coco(
        data_dir / "world" / "coco",
        seed=cfg.data.world_seed,
        image_size=cfg.data.image_size,
        num_train=cfg.data.num_train,
        num_val=cfg.data.num_val,
    )
    results = {name: run(name, [f"experiment={experiment}", *common], out) for name, experiment in RUNS.items()}
    text = table(results, images=cfg.data.num_train, epochs=cfg.trainer.max_epochs)
    atomic_write_text(out / "table.md", text + "\n")
    print("\n" + text, flush=True)
    draw_points(
        out / "PDNet" / "checkpoints" / "last.ckpt",
        root,
        out,
        scale=cfg.data.test_scale,
        max_size=cfg.data.max_size,
        count=args.pictures,
    )


if __name__ == "__main__":
    main()

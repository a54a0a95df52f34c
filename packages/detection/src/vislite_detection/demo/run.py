"""``vislite-det-demo``: FCOS on the embedded COCO world with clean boxes, gamma = 0.1 noisy boxes, and NDet's
teacher-student box correction (the teacher is the model trained on the noisy boxes).

Each stage is a ``vislite-detection experiment=demo_detection ...`` run; the table (AP, AP50, box quality),
the runs' detection PNGs and a picture of noisy / corrected / clean boxes go to the output folder.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from vislite_common.data.world import make_coco
from vislite_common.engine.compose import compose_config
from vislite_common.engine.train import train
from vislite_common.fileio import atomic_write_text
from vislite_detection.data import CocoDetection, eval_transforms
from vislite_detection.demo.report import box_quality_table, draw_box_comparison
from vislite_detection.noise import add_box_noise

NOISY_ANN = "annotations/instances_train_syn01.json"
STAGES = {
    "clean": [],
    "noisy": [f"data.train_ann={NOISY_ANN}"],
    "corrected": [f"data.train_ann={NOISY_ANN}", "+teacher@model.corrector=fcos"],
}


def write_world(data_dir: Path, *, num_train: int, num_val: int, gamma: float) -> Path:
    """The embedded COCO world (as ``experiment=demo_detection`` reads it) and its noisy training file."""
    root = make_coco(data_dir / "world" / "coco", seed=0, image_size=128, num_train=num_train, num_val=num_val)
    noisy = root / NOISY_ANN
    if not noisy.is_file():
        clean = json.loads((root / "annotations" / "instances_train.json").read_text())
        atomic_write_text(noisy, json.dumps(add_box_noise(clean, gamma=gamma, seed=0)))
    return root


def run_stage(name: str, overrides: list[str], out: Path) -> dict[str, float]:
    """One ``vislite-detection`` run into ``out/name``; returns its metrics."""
    print(f"\n=== {name}: vislite-detection {' '.join(overrides)}", flush=True)
    start = time.time()
    cfg = compose_config("vislite_detection.configs", overrides, output_dir=out / name)
    metrics = train(cfg)
    print(f"=== {name} took {time.time() - start:.0f} s", flush=True)
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/demo_detection"), help="runs, table and figures")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="where the embedded world is written")
    parser.add_argument("--gamma", type=float, default=0.1, help="noise level of the noisy copy (NDet: 0.05, 0.1)")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every stage")
    args = parser.parse_args(argv)
    out, data_dir = args.out.resolve(), args.data_dir.resolve()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    base = ["experiment=demo_detection", f"paths.data_dir={data_dir}", "trainer.enable_progress_bar=false"]
    cfg = compose_config("vislite_detection.configs", base, output_dir=out)
    start = time.time()
    root = write_world(data_dir, num_train=cfg.data.num_train, num_val=cfg.data.num_val, gamma=args.gamma)

    teacher = out / "noisy" / "checkpoints" / "last.ckpt"
    metrics = {}
    for name, stage in STAGES.items():
        extra = [f"model.corrector.teacher.checkpoint={teacher}"] if name == "corrected" else []
        metrics[name] = run_stage(name, [*base, *stage, *extra, *args.overrides], out)

    train_set = CocoDetection(
        image_dir=root / "train",
        ann_file=root / NOISY_ANN,
        transforms=eval_transforms(scale=cfg.data.test_scale, max_size=cfg.data.max_size),
    )
    quality, example = box_quality_table(train_set, teacher)
    lines = [
        "",
        f"Embedded COCO world: {cfg.data.num_train} training / {cfg.data.num_val} held-out images, 8 classes, "
        f"tiny FCOS from scratch; noise gamma = {args.gamma}.",
        "Held-out COCO box AP (clean boxes); training-box quality = mean IoU to the clean boxes (matched with lap).",
        "",
        f"  {'training boxes':<34} {'AP':>6} {'AP50':>6} {'AP75':>6}   {'box IoU to clean':>16}",
    ]
    for name, label in (
        ("clean", "clean"),
        ("noisy", f"noisy (gamma={args.gamma})"),
        ("corrected", "noisy + correction"),
    ):
        m = metrics[name]
        lines.append(
            f"  {label:<34} {100 * m['test/AP']:6.1f} {100 * m['test/AP50']:6.1f} {100 * m['test/AP75']:6.1f}   "
            f"{quality[name]:16.3f}"
        )
    lines += [
        "",
        f"  corrected run, last epoch (augmented batches): noisy {metrics['corrected'].get('train/iou_noisy', 0):.3f} "
        f"-> corrected {metrics['corrected'].get('train/iou_corrected', 0):.3f} mean IoU to the clean boxes",
    ]
    figure = draw_box_comparison(train_set, example, teacher, out / "boxes_noisy_corrected_clean.png")
    lines += [
        "",
        f"  boxes (white = clean, colour = noisy / corrected): {figure}",
        f"  detections of each run: {out}/<run>/visualisations/*.png; table: {out / 'results.txt'}",
        f"  total time: {(time.time() - start) / 60:.1f} min",
    ]
    atomic_write_text(out / "results.txt", "\n".join(lines) + "\n")
    atomic_write_text(out / "results.json", json.dumps({"metrics": metrics, "box_quality": quality}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

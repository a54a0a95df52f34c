"""``vislite-seg-demo``: train ViT-Tiny + Semantic FPN on the embedded ADE20K-layout world, print mIoU / aAcc / mAcc
on held-out images against the majority-class baseline, and save colour overlays (image | truth | prediction).

The training run is ``vislite-segmentation experiment=demo_segmentation`` (the same config a user runs); the world
is written to ``--data-dir`` in the ADE20K layout and read back by the ADE20K reader.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from hydra.utils import instantiate

from vislite_common.checkpoint import extract_state_dict, safe_load
from vislite_common.data.decode import decode_image_file
from vislite_common.engine.compose import compose_config
from vislite_common.engine.train import train
from vislite_segmentation.demo.evaluate import compare_with_baseline, majority_class, predict_split
from vislite_segmentation.vis import palette, save_comparison

NUM_OVERLAYS = 6


def _table(results: dict, class_names: list[str], constant: int) -> list[str]:
    model, baseline = results["model"], results["baseline"]
    lines = [
        "",
        f"Embedded world, {len(class_names)} classes (label 0 'other' ignored), held-out images, mmseg metrics:",
        "",
        f"  {'':<44} {'mIoU':>6} {'aAcc':>6} {'mAcc':>6}",
        f"  {'ViT-Tiny/16 + Semantic FPN (from scratch)':<44} "
        f"{model['mIoU']:6.2f} {model['aAcc']:6.2f} {model['mAcc']:6.2f}",
        f"  {f'baseline: always {class_names[constant]!r} (majority class)':<44} "
        f"{baseline['mIoU']:6.2f} {baseline['aAcc']:6.2f} {baseline['mAcc']:6.2f}",
        "",
        "  per-class IoU: "
        + ", ".join(f"{n} {'-' if math.isnan(v) else f'{v:.1f}'}" for n, v in zip(class_names, model["IoU"])),
    ]
    return lines


def _no_nan(value: object) -> object:
    """JSON-safe copy: NaN (a class absent from predictions and truth) becomes null."""
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/demo_segmentation"), help="run, table, overlays")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="where the embedded world is written")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. trainer.max_epochs=4")
    args = parser.parse_args(argv)
    out, data_dir = args.out.resolve(), args.data_dir.resolve()
    run_dir = out / "train"

    start = time.time()
    overrides = ["experiment=demo_segmentation", f"paths.data_dir={data_dir}", "logger=csv", *args.overrides]
    cfg = compose_config("vislite_segmentation.configs", overrides, output_dir=run_dir)
    print(f"=== vislite-segmentation {' '.join(overrides)}", flush=True)
    train(cfg)
    train_time = time.time() - start

    module = instantiate(cfg.model, _convert_="all")
    module.load_state_dict(extract_state_dict(safe_load(run_dir / "checkpoints" / "last.ckpt")))
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.setup("fit")
    val, train_set = datamodule.datasets["val"], datamodule.datasets["train"]
    constant = majority_class(train_set)
    preds, labels = predict_split(module, val)
    results = compare_with_baseline(preds, labels, val.num_classes, constant)

    names = datamodule.class_names or [str(i) for i in range(val.num_classes)]
    lines = _table(results, names, constant)
    colours = palette(val.num_classes)
    overlays = []
    for index in range(min(NUM_OVERLAYS, len(val))):
        path = out / "overlays" / f"{val.pairs[index][0].stem}.png"
        save_comparison(path, decode_image_file(val.pairs[index][0]), [labels[index], preds[index]], colours)
        overlays.append(path)
    lines += ["", f"  overlays (image | ground truth | prediction): {out / 'overlays'} ({len(overlays)} PNGs)"]
    lines += [f"  training + evaluation time: {(time.time() - start) / 60:.1f} min (training {train_time:.0f} s)"]
    (out / "results.txt").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps(_no_nan(results), indent=2))
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()

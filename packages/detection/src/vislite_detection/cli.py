"""``vislite-det``: COCO tools for detection data.

vislite-det world --out data/world/coco                      # write the embedded COCO world
vislite-det noise --in A.json --out B.json --gamma 0.1 --seed 0   # noisy copy (clean box kept in clean_bbox;
                                                                  #   invalid and crowd boxes copied unchanged)
vislite-det quality --noisy B.json --clean A.json            # mean IoU to the clean boxes, matched one-to-one
vislite-det eval --gt A.json --results detections.json       # COCO's 12 statistics (faster-coco-eval)
vislite-det make-ovd-split --train T.json --val V.json --split coco_48_17 --out DIR   # HierKD's seen/unseen files
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# The commands import their modules when they run, so ``--help`` answers without loading torch.


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise SystemExit(f"vislite-det: {path} not found")
    with open(path, encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as error:
            raise SystemExit(f"vislite-det: {path} is not valid JSON ({error})") from None


def cmd_noise(args: argparse.Namespace) -> int:
    from vislite_common.fileio import atomic_write_text
    from vislite_detection.data.annotations import check_coco, read_coco_json
    from vislite_detection.noise import add_box_noise, select_boxes

    if args.invalid_boxes == "skip":
        coco = read_coco_json(args.input, invalid_boxes="skip")
    else:  # copy (NDet) or error: check the file, keep its invalid boxes for add_box_noise to copy or refuse
        coco = _read_json(args.input)
        check_coco(coco, args.input, invalid_boxes="error" if args.invalid_boxes == "error" else "skip")
    noisy = add_box_noise(coco, gamma=args.gamma, seed=args.seed, strict=args.invalid_boxes == "error")
    atomic_write_text(args.out, json.dumps(noisy))
    print(f"wrote {args.out} (gamma={args.gamma}, seed={args.seed}): {select_boxes(coco).summary()}")
    return 0


def cmd_quality(args: argparse.Namespace) -> int:
    from vislite_detection.data.annotations import read_coco_json
    from vislite_detection.quality import coco_box_quality

    boxes = _read_json(args.noisy)
    clean = read_coco_json(args.clean, invalid_boxes=args.invalid_boxes)
    quality = coco_box_quality(boxes, clean, min_score=args.min_score)
    print(json.dumps(quality, indent=2) if args.json else "\n".join(f"{k:<16}{v:g}" for k, v in quality.items()))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from vislite_detection.data.annotations import read_coco_json
    from vislite_detection.eval.coco_evaluator import as_faster_coco, evaluate_results
    from vislite_detection.eval.results_file import ResultsFileError, read_results
    from vislite_detection.eval.stats import format_stats

    gt = as_faster_coco(read_coco_json(args.gt, invalid_boxes=args.invalid_boxes))
    try:  # every entry checked: a bad one is an error naming file, entry and field (or dropped and counted)
        results, _ = read_results(args.results, gt, iou_type=args.iou_type,
                                  on_invalid="drop" if args.drop_invalid else "error")
    except ResultsFileError as error:
        raise SystemExit(f"vislite-det: {error}") from None
    stats = evaluate_results(gt, results, iou_type=args.iou_type, image_ids=None)
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0


def cmd_viz(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from vislite_detection.data.dataset import CocoDetection
    from vislite_detection.quality.coco import boxes_by_image
    from vislite_detection.viz import draw_detections

    dataset = CocoDetection(image_dir=args.images, ann_file=args.gt, invalid_boxes=args.invalid_boxes)
    results = _read_json(args.results)
    if not isinstance(results, list):
        raise SystemExit(f"vislite-det: {args.results} must be a COCO result list (image_id, category_id, bbox, score)")
    by_image: dict[int, list[dict[str, Any]]] = {}
    for record in results:
        if float(record["score"]) >= args.min_score:
            by_image.setdefault(int(record["image_id"]), []).append(record)
    for index in range(min(args.num, len(dataset))):
        image, target = dataset[index]
        records = by_image.get(target["image_id"], [])
        boxes = torch.from_numpy(boxes_by_image(records).get(target["image_id"], np.zeros((0, 4))))  # [K, 4] XYXY
        labels = torch.tensor([dataset.category_id_to_label[r["category_id"]] for r in records], dtype=torch.int64)
        scores = torch.tensor([float(r["score"]) for r in records])
        path = args.out / f"{target['image_id']:012d}.png"
        draw_detections(image, boxes, labels, scores, dataset.category_names, path, gt_boxes=target["boxes"])
        print(path)
    return 0


def cmd_world(args: argparse.Namespace) -> int:
    from vislite_common.data.world import make_coco

    root = make_coco(
        args.out,
        seed=args.seed,
        image_size=args.image_size,
        num_train=args.num_train,
        num_val=args.num_val,
        segmentation=args.segmentation,
        progress=True,
    )
    print(f"wrote the COCO world to {root} (annotations/instances_{{train,val}}.json, train/, val/)")
    return 0


def cmd_make_ovd_split(args: argparse.Namespace) -> int:
    from vislite_detection.hierkd.ovd_split import load_class_split, make_ovd_split, write_ovd_split

    split = load_class_split(args.split)
    files = make_ovd_split(
        _read_json(args.train), _read_json(args.val), split, drop_train_images_with_unseen=args.strict
    )
    for path in write_ovd_split(files, args.out):
        data = files[path.name]
        print(f"{path}: {len(data['categories'])} classes, {len(data['images'])} images, "
              f"{len(data['annotations'])} boxes")
    return 0


def _invalid_boxes_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--invalid-boxes",
        choices=("error", "skip"),
        default="error",
        help="boxes of zero/negative size or outside their image: stop (default) or leave them out with a warning",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vislite-det", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    noise = sub.add_parser("noise", help="write a copy of a COCO instances file with noisy boxes")
    noise.add_argument("--in", dest="input", type=Path, required=True, help="clean COCO instances JSON")
    noise.add_argument("--out", type=Path, required=True, help="noisy COCO instances JSON to write")
    noise.add_argument("--gamma", type=float, required=True, help="noise std as a fraction of w and h (0.05, 0.1)")
    noise.add_argument("--seed", type=int, default=0)
    noise.add_argument(
        "--invalid-boxes",
        choices=("copy", "error", "skip"),
        default="copy",
        help="boxes with w or h < 1, area <= 0 or outside their image: copy them unchanged and count them "
        "(default, NDet's files), stop naming the first annotation id, or leave them out with a warning",
    )
    noise.set_defaults(run=cmd_noise)

    quality = sub.add_parser("quality", help="mean IoU of boxes to the clean ones, matched one-to-one per image")
    quality.add_argument("--noisy", type=Path, required=True, help="instances JSON or COCO result list")
    quality.add_argument("--clean", type=Path, required=True, help="clean COCO instances JSON")
    quality.add_argument("--min-score", type=float, default=0.0, help="result lists: keep detections >= this")
    quality.add_argument("--json", action="store_true", help="print JSON")
    _invalid_boxes_option(quality)
    quality.set_defaults(run=cmd_quality)

    evaluate = sub.add_parser("eval", help="COCO's 12 statistics of a result list (faster-coco-eval)")
    evaluate.add_argument("--gt", type=Path, required=True, help="COCO instances JSON")
    evaluate.add_argument("--results", type=Path, required=True, help="COCO result JSON list")
    evaluate.add_argument("--iou-type", choices=("bbox", "segm"), default="bbox")
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    evaluate.add_argument("--drop-invalid", action="store_true",
                          help="drop invalid result entries (counted in the log) instead of stopping at the first")
    _invalid_boxes_option(evaluate)
    evaluate.set_defaults(run=cmd_eval)

    viz = sub.add_parser("viz", help="draw a result file's detections (and the ground truth) as PNGs")
    viz.add_argument("--gt", type=Path, required=True, help="COCO instances JSON")
    viz.add_argument("--images", type=Path, required=True, help="folder of the instances file's images")
    viz.add_argument("--results", type=Path, required=True, help="COCO result JSON list")
    viz.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    viz.add_argument("--num", type=int, default=8, help="images drawn, in image-id order (default: 8)")
    viz.add_argument("--min-score", type=float, default=0.3, help="detections drawn score at least this")
    _invalid_boxes_option(viz)
    viz.set_defaults(run=cmd_viz)

    world = sub.add_parser("world", help="write the embedded COCO world (images + instances, captions)")
    world.add_argument("--out", type=Path, required=True)
    world.add_argument("--seed", type=int, default=0)
    world.add_argument("--image-size", type=int, default=128)
    world.add_argument("--num-train", type=int, default=64)
    world.add_argument("--num-val", type=int, default=16)
    world.add_argument("--segmentation", choices=("polygon", "rle"), default="polygon")
    world.set_defaults(run=cmd_world)

    ovd = sub.add_parser("make-ovd-split", help="seen / unseen annotation files for open-vocabulary detection")
    ovd.add_argument("--train", type=Path, required=True, help="COCO instances JSON of the training images")
    ovd.add_argument("--val", type=Path, required=True, help="COCO instances JSON of the validation images")
    ovd.add_argument("--split", default="coco_48_17", help="coco_48_17, coco_65_15 or a JSON {seen: [], unseen: []}")
    ovd.add_argument("--out", type=Path, required=True, help="folder for instances_train_seen.json and the val files")
    ovd.add_argument("--strict", action="store_true", help="also drop training images holding an unseen object")
    ovd.set_defaults(run=cmd_make_ovd_split)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ValueError, FileNotFoundError) as error:
        print(f"vislite-det {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

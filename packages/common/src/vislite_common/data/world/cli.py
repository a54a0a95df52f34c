"""``vislite-data make-world``: write the embedded world in one (or every) dataset layout.

Examples::

    vislite-data make-world --task classification --out data/world/classification
    vislite-data make-world --task coco --out data/world/coco --size 160 --num 200 --segmentation rle
    vislite-data make-world --task lasot --out data/world/lasot --size 320x240 --num 8 --frames 60
    vislite-data make-world --task all --out data/world --seed 3
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vislite_common.data.world.dispatch import MAKERS, TASKS, accepted_options, make_world

# CLI option → make_<task> keyword, per task ("all" maps each option wherever it applies).
_NUM = {
    "classification": "train_per_class",
    "coco": "num_train",
    "ade20k": "num_train",
    "lasot": "num_sequences",
    "got10k": "num_train",
}
_NUM_VAL = {"classification": "val_per_class", "coco": "num_val", "ade20k": "num_val", "got10k": "num_val"}
_TRACKING = ("lasot", "got10k")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer seed, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer seed, got {value}")
    return value


def _size(text: str) -> int | tuple[int, int]:
    """ "N" → N or "WxH" → (W, H)."""
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected a size 'N' or 'WxH' in pixels, got {text!r}")
    return values[0] if len(values) == 1 else (values[0], values[1])


def build_parser() -> argparse.ArgumentParser:
    """The ``vislite-data`` argument parser."""
    parser = argparse.ArgumentParser(prog="vislite-data", description="Data tools of vislite.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    make = commands.add_parser(
        "make-world",
        help="write the embedded synthetic world in a dataset layout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    make.add_argument("--task", required=True, choices=TASKS, help="dataset layout to write ('all': OUT/<task>)")
    make.add_argument("--out", required=True, help="output directory (new, empty, or written by this tool)")
    make.add_argument("--seed", type=_seed, default=0, help="world seed (default 0)")
    make.add_argument("--size", type=_size, help="image size N (square) or tracking frame size WxH (N → N x 3N/4)")
    make.add_argument(
        "--num",
        type=_positive_int,
        help="train images per class (classification), train images (coco, ade20k), "
        "sequences (lasot) or train sequences (got10k)",
    )
    make.add_argument("--num-val", type=_positive_int, help="validation images (per class) or sequences")
    make.add_argument("--frames", type=_positive_int, help="frames per tracking sequence (lasot, got10k)")
    make.add_argument("--segmentation", choices=("polygon", "rle"), help="COCO mask encoding (default polygon)")
    make.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def task_options(task: str, args: argparse.Namespace) -> dict[str, Any]:
    """``make_<task>`` keyword arguments from parsed CLI ``args``; ValueError for an option that does not apply."""
    opts: dict[str, Any] = {"seed": args.seed, "progress": not args.no_progress}
    if args.size is not None:
        width, height = args.size if isinstance(args.size, tuple) else (args.size, None)
        if task in _TRACKING:
            opts["frame_size"] = (width, height if height is not None else round(width * 3 / 4))
        elif height is not None and width != height:
            raise ValueError(f"--size for {task} must be a single number (square images), got {width}x{height}")
        else:
            opts["image_size"] = width
    for value, table, flag in ((args.num, _NUM, "--num"), (args.num_val, _NUM_VAL, "--num-val")):
        if value is not None:
            if task not in table:
                raise ValueError(f"{flag} does not apply to task {task!r}")
            opts[table[task]] = value
    if args.frames is not None:
        if task not in _TRACKING:
            raise ValueError(f"--frames applies to lasot and got10k only, not {task!r}")
        opts["num_frames"] = args.frames
    if args.segmentation is not None:
        if task != "coco":
            raise ValueError(f"--segmentation applies to coco only, not {task!r}")
        opts["segmentation"] = args.segmentation
    assert set(opts) <= accepted_options(task), (task, opts)
    return opts


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vislite-data``; returns 0 on success (argument errors exit with status 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.task == "all":  # each layout gets the options that apply to it
            plan = {task: (Path(args.out) / task, task_options(task, _applicable(task, args))) for task in MAKERS}
        else:
            plan = {args.task: (Path(args.out), task_options(args.task, args))}
        for task, (out, opts) in plan.items():
            print(make_world(task, out, **opts))
    except (ValueError, FileExistsError, NotADirectoryError) as error:
        parser.exit(2, f"vislite-data make-world: error: {error}\n")
    return 0


def _applicable(task: str, args: argparse.Namespace) -> argparse.Namespace:
    """A copy of ``args`` with the options that do not apply to ``task`` cleared (used for ``--task all``)."""
    cleared = argparse.Namespace(**vars(args))
    if task not in _NUM_VAL:
        cleared.num_val = None
    if task not in _TRACKING:
        cleared.frames = None
    if task != "coco":
        cleared.segmentation = None
    if task not in _TRACKING and isinstance(args.size, tuple) and args.size[0] != args.size[1]:
        cleared.size = None
    return cleared


if __name__ == "__main__":
    raise SystemExit(main())

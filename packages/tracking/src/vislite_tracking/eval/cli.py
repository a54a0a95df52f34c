"""``vislite-track-eval``: score tracking results (pytracking layout) on LaSOT, GOT-10k or OTB.

Examples::

    vislite-track-eval --dataset lasot --root data/lasot --split test --results out/ostrack --json lasot.json
    vislite-track-eval --dataset got10k --root data/got10k --split val --convention got10k \\
        --results out/a --results out/b --name A --name B --plot curves.png

With one ``--results`` the JSON holds that tracker's scores (overall, ``curves`` and ``sequences``); with
several it maps each name to its scores. All scores are percentages.

Conventions: ``pytracking`` (pytracking's ``extract_results.py``: ground truth valid when x, y, w, h are all
> 0), ``ostrack`` (OSTrack's copy of it: valid when w, h > 0, so boxes touching the left or top border are
scored), ``got10k`` (got10k-toolkit) and ``pysot`` (pysot-toolkit).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence as Seq
from pathlib import Path
from typing import Any

from vislite_common.fileio import atomic_write_text
from vislite_tracking.data.registry import load_sequences
from vislite_tracking.eval.plots import plot_curves
from vislite_tracking.eval.scoring import CONVENTIONS, DATASETS, evaluate
from vislite_tracking.eval.table import format_table


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="vislite-track-eval", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS), help="dataset layout of --root")
    parser.add_argument("--root", required=True, type=Path, help="dataset root folder")
    parser.add_argument("--split", help="LaSOT: test/train (from testing_set.txt); GOT-10k: val (default)/train")
    parser.add_argument(
        "--results",
        required=True,
        action="append",
        type=Path,
        help="results folder with <seq>.txt per sequence (repeat to compare trackers)",
    )
    parser.add_argument("--name", action="append", help="tracker name per --results (default: the folder name)")
    parser.add_argument(
        "--convention",
        default="pytracking",
        choices=sorted(CONVENTIONS),
        help="toolkit whose metric definitions to follow (default: pytracking; ostrack = OSTrack's copy of\n"
        "pytracking's analysis, which keeps ground truth with x or y = 0 valid)",
    )
    parser.add_argument("--json", type=Path, help="write the scores to this JSON file")
    parser.add_argument("--plot", type=Path, help="write success / precision plots to this PNG")
    parser.add_argument("--per-sequence", action="store_true", help="also print one row per sequence")
    return parser


def _names(args: argparse.Namespace) -> list[str]:
    names = args.name or [p.name for p in args.results]
    if len(names) != len(args.results):
        raise SystemExit(f"vislite-track-eval: {len(names)} --name for {len(args.results)} --results")
    if len(set(names)) != len(names):
        raise SystemExit(f"vislite-track-eval: tracker names must differ, got {names}; pass --name per --results")
    return names


def run(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Evaluate every results folder, print the tables, write the JSON / PNG; returns name -> scores."""
    sequences = load_sequences(args.dataset, args.root, args.split)
    results = {
        name: evaluate(sequences, path, dataset=args.dataset, convention=args.convention)
        for name, path in zip(_names(args), args.results)
    }
    print(f"{args.dataset} ({len(sequences)} sequences), {args.convention} convention, scores in %")
    print(format_table(results))
    for name, result in results.items():
        for note in result["warnings"]:
            print(f"warning ({name}): {note}")
    if args.per_sequence:
        for name, result in results.items():
            print(f"\n{name}: per sequence")
            print(format_table(result["sequences"]))
    if args.json is not None:
        payload = next(iter(results.values())) if len(results) == 1 else results
        atomic_write_text(args.json, json.dumps(payload, indent=1) + "\n")
        print(f"scores: {args.json}")
    if args.plot is not None:
        print(f"plots: {plot_curves(results, args.plot)}")
    return results


def main(argv: Seq[str] | None = None) -> None:
    """Entry point of ``vislite-track-eval``."""
    run(build_parser().parse_args(argv))


if __name__ == "__main__":
    main()

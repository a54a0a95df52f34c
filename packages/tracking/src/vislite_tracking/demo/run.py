"""``vislite-track-demo``: train the ViT tracker on the embedded world, then run OPE on held-out sequences.

Stages: (1) ``vislite-tracking experiment=demo_tracking`` (writes the embedded LaSOT / GOT-10k world on first
use and trains on LaSOT + GOT-10k train); (2) OPE on the GOT-10k ``val`` sequences for the trained tracker and a
"first-frame box" baseline; (3) the results table (pytracking convention), a success / precision plot and a strip
of frames with the true and predicted boxes, all under ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vislite_common.engine.stages import last_checkpoint, run_stage
from vislite_tracking.data import load_sequences
from vislite_tracking.demo.strip import box_strip
from vislite_tracking.eval import FirstFrameTracker, evaluate, format_table, load_runs, plot_curves, run_ope

TRACKER = "vit_tiny_ce"
BASELINE = "first_frame_box"


def train(out: Path, data_dir: Path, overrides: list[str]) -> Path:
    """Run the demo training (``vislite-tracking experiment=demo_tracking``) into ``out/train``; return its last
    checkpoint."""
    run_stage("vislite_tracking.train", "train", ["experiment=demo_tracking"], out, data_dir, overrides)
    return last_checkpoint(out, "train")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/demo_tracking"), help="runs, results and plots")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="where the embedded world is written")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for the training run")
    args = parser.parse_args(argv)
    out, data_dir = args.out.resolve(), args.data_dir.resolve()
    checkpoint = train(out, data_dir, args.overrides)

    from vislite_tracking import load_tracker

    held_out = load_sequences("got10k", data_dir / "world" / "tracking" / "got10k", "val")
    print(f"=== OPE on {len(held_out)} held-out GOT-10k-layout sequences", flush=True)
    makers = {TRACKER: lambda: load_tracker(checkpoint, threads=1), BASELINE: FirstFrameTracker}
    results = {}
    for name, make in makers.items():
        run_ope(make, held_out, out / "results" / name, progress=False)
        results[name] = evaluate(held_out, out / "results" / name, dataset="got10k", convention="pytracking")
    print(format_table(results))
    plot = plot_curves(results, out / "success_plot.png")
    best = held_out[0]
    strip = box_strip(best, load_runs(out / "results" / TRACKER, best.name)[0].boxes, out / "tracking_strip.png")
    summary = {name: {k: v for k, v in r.items() if isinstance(v, float)} for name, r in results.items()}
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    print(f"=== wrote {plot}, {strip}, {out / 'results.json'}")


if __name__ == "__main__":
    main()

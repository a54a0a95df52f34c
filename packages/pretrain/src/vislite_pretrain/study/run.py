"""``make study``: MIM against contrastive pre-training, why MIM's higher layers learn poorly, distillation as the fix.

On the embedded world (8 shape classes, 64 px, ViT-Tiny/16) the study pre-trains a teacher, then MAE-lite, MoCo-v3
and D-MAE (:mod:`vislite_pretrain.study.plan`); fine-tunes each, and scratch, on several labelled fractions;
linear-probes each; and analyses the encoders with ``vislite-analyze``: CKA of every layer against the teacher and
attention distance per layer. It prints one table and names the plots. Every stage is a command a user can rerun.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from vislite_pretrain.analysis.cli import run as analyze
from vislite_pretrain.demo.stages import last_checkpoint, run_stage
from vislite_pretrain.study.plan import FRACTIONS, LABELS, PRETRAINED, downstream_stages, finetune_name, pretrain_stages
from vislite_pretrain.study.plots import accuracy_vs_fraction

CHANCE = 1 / 8
ANALYSED = ("teacher", *PRETRAINED)


def run_analysis(out: Path, data_dir: Path, command: str, *extra: str) -> list[Path]:
    """``vislite-analyze <command>`` over the teacher and the three pre-trained encoders, into ``out/analysis``."""
    argv = [command]
    for name in ANALYSED:
        argv += ["--ckpt", str(last_checkpoint(out, name)), "--label", LABELS[name]]
    argv += ["--data", str(data_dir / "world" / "classification"), "--split", "val", "--num", "200"]
    argv += ["--out", str(out / "analysis"), "--no-progress", *extra]
    print(f"\n=== analysis: vislite-analyze {' '.join(argv)}", flush=True)
    return analyze(argv)


def summarise(out: Path, metrics: dict[str, dict[str, float]], fractions: tuple[float, ...]) -> dict[str, Any]:
    """The study's numbers: fine-tune accuracy per fraction, probe accuracy, CKA to the teacher, attention distance."""
    analysis = out / "analysis"
    attention = json.loads((analysis / "attention.json").read_text())
    rows: dict[str, Any] = {}
    for init in ("scratch", *PRETRAINED):
        label = LABELS[init]
        row: dict[str, Any] = {
            "finetune": {str(f): metrics[finetune_name(init, f)]["test/acc"] for f in fractions},
        }
        if init != "scratch":
            row["linprobe"] = metrics[f"linprobe_{init}"]["test/acc"]
            cka = json.loads((analysis / f"cka_teacher_vs_{label}.json").read_text())["cka"]
            row["cka_to_teacher"] = [cka[i][i] for i in range(len(cka))]  # entry k: block k's output (0: the input)
            distance = attention[label]["distance"]  # [layers][heads]
            row["attention_distance"] = [sum(heads) / len(heads) for heads in distance]
        rows[label] = row
    teacher = attention[LABELS["teacher"]]["distance"]
    rows["teacher"] = {"attention_distance": [sum(heads) / len(heads) for heads in teacher]}
    return rows


def table(rows: dict[str, Any], fractions: tuple[float, ...]) -> list[str]:
    """The printed results table."""
    header = "".join(f"{f'FT {round(100 * f)}%':>9}" for f in fractions)
    lines = [
        "",
        "Embedded world, 8 shape classes (chance 12.5%), ViT-Tiny/16 at 64 px, top-1 on held-out images;",
        "CKA Lk: the output of block k against the teacher's (minibatch CKA, 200 images); distance: mean attention",
        "distance of the last block (pixels, 16 px patches).",
        "",
        f"  {'pre-training':<12}{header}{'probe':>9}{'CKA L1':>9}{'CKA L12':>9}{'distance':>10}",
    ]
    for label, row in rows.items():
        if "finetune" not in row:
            continue
        accs = "".join(f"{100 * row['finetune'][str(f)]:8.1f}%" for f in fractions)
        if "linprobe" in row:
            cka = row["cka_to_teacher"]
            extra = f"{100 * row['linprobe']:8.1f}%{cka[1]:9.3f}{cka[-1]:9.3f}{row['attention_distance'][-1]:10.1f}"
        else:
            extra = f"{'-':>9}{'-':>9}{'-':>9}{'-':>10}"
        lines.append(f"  {label:<12}{accs}{extra}")
    lines.append(f"  {'teacher':<12}{'':>{9 * len(fractions) + 27}}{rows['teacher']['attention_distance'][-1]:10.1f}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/study"), help="where runs, table and plots go")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="where the embedded world is written")
    parser.add_argument("--fractions", type=float, nargs="+", default=list(FRACTIONS), help="labelled fractions")
    parser.add_argument(
        "--epoch-scale", type=float, default=1.0, help="multiply every epoch count (e.g. 0.1 for a quick check)"
    )
    parser.add_argument("--exact", action="store_true", help="trainer.precision=32 throughout (default: auto)")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every stage")
    args = parser.parse_args(argv)
    out, data_dir, fractions = args.out.resolve(), args.data_dir.resolve(), tuple(args.fractions)
    extra = [*(["trainer.precision=32"] if args.exact else []), *args.overrides]

    start = time.time()
    metrics = {}
    for stage in pretrain_stages(out, scale=args.epoch_scale):
        metrics[stage.name] = run_stage(stage.name, list(stage.overrides), out, data_dir, extra)
    for stage in downstream_stages(out, fractions=fractions, scale=args.epoch_scale):
        metrics[stage.name] = run_stage(stage.name, list(stage.overrides), out, data_dir, extra)
    plots = run_analysis(out, data_dir, "attention", "--unit", "pixels")
    plots += run_analysis(out, data_dir, "cka")

    rows = summarise(out, metrics, fractions)
    curves = {LABELS[i]: {f: rows[LABELS[i]]["finetune"][str(f)] for f in fractions} for i in ("scratch", *PRETRAINED)}
    figure = accuracy_vs_fraction(curves, out / "accuracy_vs_fraction.png", chance=CHANCE)
    lines = table(rows, fractions)
    (out / "results.txt").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps({"rows": rows, "metrics": metrics}, indent=2, sort_keys=True))
    print("\n".join(lines))
    print(f"\n  fine-tuning vs labels:  {figure}")
    for path in plots:
        if path.suffix == ".png":
            print(f"  {path.stem + ':':<23} {path}")
    print(f"  table:                  {out / 'results.txt'}\n\n  total time: {(time.time() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()

"""``vislite-pipeline``: the papers' flow as one command -- pre-train once, carry the exported backbone into each
downstream recipe, and compare every downstream run with the same recipe from scratch.

A pipeline is a YAML file (``hydra_configs/pipelines/<name>.yaml`` at the repository root)::

    description: ...
    pretrain:                      # the stage that writes backbone.safetensors + backbone.json
      name: mae_lite
      command: vislite_pretrain.train
      overrides: [experiment=demo_pretrain]
    stages:                        # each run twice: from the exported backbone, and from scratch
      - name: classification
        command: vislite_pretrain.train
        overrides: [experiment=demo_finetune]
        backbone_key: model.model.init     # the recipe's key that takes the backbone file
        metric: test/acc                   # the figure the table compares
    overrides: [trainer.max_epochs=1]      # optional: appended to every stage (a shortened pipeline)

Stages name package recipes and overrides only: the package configs stay the source of truth. Each stage is a
subprocess (``python -m <command> ...``) whose command line is printed, so any row can be rerun by hand.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vislite_common.engine.stages import run_stage

PIPELINE_DIR = Path("hydra_configs") / "pipelines"


@dataclass
class Stage:
    """One package recipe of a pipeline."""

    name: str
    command: str
    overrides: list[str] = field(default_factory=list)
    backbone_key: str | None = None
    metric: str | None = None


@dataclass
class Pipeline:
    """A pre-training stage and the downstream stages that take its backbone."""

    name: str
    description: str
    pretrain: Stage
    stages: list[Stage]
    overrides: list[str] = field(default_factory=list)


def _stage(node: Any, where: str, *, downstream: bool) -> Stage:
    if not isinstance(node, dict):
        raise ValueError(f"{where}: expected a mapping with name / command / overrides, got {node!r}")
    unknown = set(node) - {"name", "command", "overrides", "backbone_key", "metric"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("name", "command", *(("backbone_key", "metric") if downstream else ())):
        if not isinstance(node.get(key), str) or not node[key]:
            raise ValueError(f"{where}: `{key}` must be a non-empty string")
    overrides = node.get("overrides", [])
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise ValueError(f"{where}: `overrides` must be a list of strings")
    return Stage(name=node["name"], command=node["command"], overrides=list(overrides),
                 backbone_key=node.get("backbone_key"), metric=node.get("metric"))


def load_pipeline(path: str | Path) -> Pipeline:
    """Read and check a pipeline file; errors name the file and the entry."""
    path = Path(path)
    if not path.is_file():
        candidate = PIPELINE_DIR / f"{path}.yaml"
        if not candidate.is_file():
            raise FileNotFoundError(f"no pipeline {path} (neither a file nor {candidate})")
        path = candidate
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or "pretrain" not in data or "stages" not in data:
        raise ValueError(f"{path}: a pipeline needs `pretrain` and `stages`")
    stages = data["stages"]
    if not isinstance(stages, list) or not stages:
        raise ValueError(f"{path}: `stages` must be a non-empty list")
    return Pipeline(
        name=path.stem,
        description=str(data.get("description", "")).strip(),
        pretrain=_stage(data["pretrain"], f"{path}: pretrain", downstream=False),
        stages=[_stage(s, f"{path}: stages[{i}]", downstream=True) for i, s in enumerate(stages)],
        overrides=list(data.get("overrides", [])),
    )


def run_pipeline(pipeline: Pipeline, *, out: Path, data_dir: Path, extra: list[str] = ()) -> list[dict[str, Any]]:
    """Run every stage into ``out/<stage>``; return one row per downstream stage (scratch vs pre-trained)."""
    common = [*pipeline.overrides, *extra]
    start = time.time()
    run_stage(pipeline.pretrain.command, pipeline.pretrain.name, [*pipeline.pretrain.overrides, *common], out,
              data_dir)
    backbone = out / pipeline.pretrain.name / "backbone.json"
    if not backbone.is_file():
        raise RuntimeError(f"the pre-training stage wrote no backbone ({backbone} is missing)")
    rows = []
    for stage in pipeline.stages:
        overrides = [*stage.overrides, *common]
        scratch = run_stage(stage.command, f"{stage.name}_scratch", overrides, out, data_dir)
        pretrained = run_stage(stage.command, f"{stage.name}_pretrained",
                               [*overrides, f"{stage.backbone_key}={backbone.parent / 'backbone.safetensors'}"],
                               out, data_dir)
        for label, metrics in (("scratch", scratch), ("pretrained", pretrained)):
            if stage.metric not in metrics:
                raise KeyError(f"stage {stage.name} ({label}) logged no {stage.metric!r}; logged: {sorted(metrics)}")
        rows.append({"stage": stage.name, "metric": stage.metric, "scratch": scratch[stage.metric],
                     "pretrained": pretrained[stage.metric]})
    elapsed = time.time() - start
    table = format_table(pipeline, rows, backbone, elapsed)
    print(table)
    (out / "results.txt").write_text(table)
    (out / "results.json").write_text(json.dumps({"rows": rows, "seconds": elapsed}, indent=2))
    return rows


def format_table(pipeline: Pipeline, rows: list[dict[str, Any]], backbone: Path, seconds: float) -> str:
    """The pipeline's one table: each downstream recipe from scratch and from the pre-trained backbone."""
    width = max(len(row["stage"]) + len(row["metric"]) + 3 for row in rows)
    lines = [f"\nPipeline {pipeline.name}: {pipeline.pretrain.name} backbone {backbone}", "",
             f"{'stage (metric)':<{width}}  {'scratch':>9}  {'pretrained':>10}  {'change':>8}"]
    for row in rows:
        label = f"{row['stage']} ({row['metric']})"
        change = row["pretrained"] - row["scratch"]
        lines.append(f"{label:<{width}}  {row['scratch']:>9.4f}  {row['pretrained']:>10.4f}  {change:>+8.4f}")
    lines += ["", f"total time {seconds / 60:.1f} min", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``vislite-pipeline``."""
    parser = argparse.ArgumentParser(prog="vislite-pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("pipeline", help="a pipeline file, or a name under ./hydra_configs/pipelines/")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default outputs/pipeline/<name>)")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="where the embedded world is written")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides appended to every stage")
    args = parser.parse_args(argv)
    pipeline = load_pipeline(args.pipeline)
    out = (args.out or Path("outputs") / "pipeline" / pipeline.name).resolve()
    run_pipeline(pipeline, out=out, data_dir=args.data_dir.resolve(), extra=args.overrides)


if __name__ == "__main__":
    main()

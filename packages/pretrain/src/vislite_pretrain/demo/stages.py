"""Running one ``vislite-pretrain`` job as a stage of a larger pipeline (the demo, the study)."""

from __future__ import annotations

from pathlib import Path

from vislite_common.engine import stages
from vislite_common.engine.stages import last_checkpoint

__all__ = ["last_checkpoint", "run_stage"]


def run_stage(name: str, overrides: list[str], out: Path, data_dir: Path, extra: list[str]) -> dict[str, float]:
    """Run ``vislite-pretrain <overrides> <extra>`` into ``out/name`` and return its metrics."""
    return stages.run_stage("vislite_pretrain.train", name, overrides, out, data_dir, extra)

"""Hydra entry points: ``vislite-train`` here, and the same factory for every package's own command."""

from __future__ import annotations

import sys
from collections.abc import Callable

import hydra
from omegaconf import DictConfig

from vislite_common.engine.report import print_metrics
from vislite_common.engine.train import metric_value, train


def make_hydra_main(config_path: str, config_name: str = "train", *, command: str) -> Callable[[], float | None]:
    """A ``@hydra.main`` entry point over ``config_path`` (e.g. ``pkg://vislite_pretrain.configs``).

    The job is named ``command`` (``hydra.job.name``: log file names, ``--help``'s title, SLURM job names) unless
    the command line names it.
    """

    @hydra.main(version_base="1.3", config_path=config_path, config_name=config_name)
    def hydra_entry(cfg: DictConfig) -> float | None:
        metrics = train(cfg)
        print_metrics(metrics, title=str(cfg.get("task_name", "run")))
        return metric_value(metrics, cfg.get("optimized_metric"))

    def main() -> float | None:
        if not any(arg.startswith("hydra.job.name=") for arg in sys.argv[1:]):
            sys.argv.append(f"hydra.job.name={command}")
        return hydra_entry()

    return main


main = make_hydra_main("pkg://vislite_common.configs", "train", command="vislite-train")

if __name__ == "__main__":
    main()

"""Hydra entry points: ``vislite-train`` here, and the same factory for every package's own command."""

from __future__ import annotations

from collections.abc import Callable

import hydra
from omegaconf import DictConfig

from vislite_common.engine.report import print_metrics
from vislite_common.engine.train import metric_value, train


def make_hydra_main(config_path: str, config_name: str = "train") -> Callable[[], float | None]:
    """A ``@hydra.main`` entry point over ``config_path`` (e.g. ``pkg://vislite_pretrain.configs``)."""

    @hydra.main(version_base="1.3", config_path=config_path, config_name=config_name)
    def main(cfg: DictConfig) -> float | None:
        metrics = train(cfg)
        print_metrics(metrics, title=str(cfg.get("task_name", "run")))
        return metric_value(metrics, cfg.get("optimized_metric"))

    return main


main = make_hydra_main("pkg://vislite_common.configs", "train")

if __name__ == "__main__":
    main()

"""LightningCLI front door: builds the very same classes as the Hydra configs, from YAML or flags.

    vislite-cli fit --config run.yaml
    vislite-cli fit --model vislite_common.lit.classifier.ImageClassifier --data ... --print_config

``precision`` defaults to the resolved ``auto`` value (bf16-mixed where supported, else 32).
"""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.cli import LightningCLI

import vislite_common  # noqa: F401  (registers the backbones)
from vislite_common.lit.callbacks import AtomicCheckpointIO, NonFiniteLossGuard, StepSeeder
from vislite_common.lit.precision import resolve_precision


def run_cli(args: list[str] | None = None, *, run: bool = True) -> LightningCLI:
    """Run LightningCLI over any vislite LightningModule / LightningDataModule (subclass mode)."""
    return LightningCLI(
        pl.LightningModule,
        pl.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        trainer_defaults={
            "precision": resolve_precision("auto"),
            "plugins": [AtomicCheckpointIO()],
            "callbacks": [NonFiniteLossGuard(), StepSeeder(0)],
        },
        args=args,
        run=run,
    )


def main() -> None:
    """Console entry point ``vislite-cli``."""
    run_cli()


if __name__ == "__main__":
    main()

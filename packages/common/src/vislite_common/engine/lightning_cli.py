"""LightningCLI front door: builds the very same classes as the Hydra configs, from YAML or flags.

    vislite-cli fit --config run.yaml
    vislite-cli fit --model vislite_common.lit.classifier.ImageClassifier --data ... --print_config

``precision`` defaults to the resolved ``auto`` value (bf16-mixed where supported, else 32).
"""

from __future__ import annotations

import inspect
import pydoc
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import yaml
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningCLI, SaveConfigCallback

import vislite_common  # noqa: F401  (registers the backbones)
from vislite_common.engine.safety import preflight
from vislite_common.engine.signals import InterruptCheckpoint, graceful_signals
from vislite_common.engine.validate import ClassCountCheck
from vislite_common.fileio import atomic_write_text
from vislite_common.lit.callbacks import AtomicCheckpointIO, NonFiniteLossGuard, StepSeeder
from vislite_common.lit.precision import resolve_precision
from vislite_common.lit.relocatable_checkpoint import RelocatableModelCheckpoint


def _signature_default(cls: type, name: str) -> Any:
    """The default of ``name`` in the first ``__init__`` along ``cls``'s MRO that declares it (``_EMPTY`` if none)."""
    for klass in cls.__mro__:
        parameter = inspect.signature(klass.__init__).parameters.get(name)
        if parameter is not None:
            return parameter.default
    return inspect.Parameter.empty


def drop_class_valued_defaults(node: Any) -> Any:
    """Remove ``init_args`` entries that spell a class-valued default as an import path.

    jsonargparse writes a default such as timm's ``embed_layer=PatchEmbed`` as ``timm.layers.PatchEmbed`` but reads
    that string back as a class to *instantiate* (a ``PatchEmbed()`` in place of the class), so a full dump does
    not replay; the code supplies the same default when the entry is absent.
    """
    if isinstance(node, list):
        return [drop_class_valued_defaults(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: drop_class_valued_defaults(value) for key, value in node.items()}
    class_path, init_args = node.get("class_path"), node.get("init_args")
    if isinstance(class_path, str) and isinstance(init_args, dict):
        cls = pydoc.locate(class_path)
        for name, value in list(init_args.items()) if inspect.isclass(cls) else ():
            if isinstance(value, str) and "." in value:
                with suppress(ValueError, TypeError):
                    default = _signature_default(cls, name)
                    if inspect.isclass(default) and pydoc.locate(value) is default:
                        del init_args[name]
    return node


class ReplayableConfig(SaveConfigCallback):
    """Writes the run's ``config.yaml`` so that ``vislite-cli fit --config <run>/config.yaml`` replays it."""

    def save_config(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if trainer.is_global_zero and trainer.log_dir is not None:
            config = yaml.safe_load(self.parser.dump(self.config, skip_none=False))
            text = yaml.safe_dump(drop_class_valued_defaults(config), sort_keys=False)
            atomic_write_text(Path(trainer.log_dir) / self.config_filename, text)


class VisliteCLI(LightningCLI):
    """LightningCLI that adds atomic checkpoint writes at build time, so the saved ``config.yaml`` replays as is.

    The plugin is not a trainer default: an object in the defaults would be written to ``config.yaml`` as an
    unserialisable instance, and ``vislite-cli fit --config <run>/config.yaml`` would then fail to parse it.
    """

    def instantiate_trainer(self, **kwargs: Any) -> pl.Trainer:
        trainer_config = self._get(self.config_init, "trainer", default={})
        strategy = str(trainer_config.get("strategy", "auto"))
        if not trainer_config.get("plugins") and not strategy.startswith(("fsdp", "deepspeed")):
            kwargs.setdefault("plugins", [AtomicCheckpointIO()])
        trainer = super().instantiate_trainer(**kwargs)
        _relocatable_default_checkpoint(trainer)
        self.interrupt = InterruptCheckpoint(Path(trainer.default_root_dir) / "checkpoints")
        trainer.callbacks.extend([self.interrupt, ClassCountCheck()])
        return trainer

    def _run_subcommand(self, subcommand: str) -> None:
        """Run ``fit`` / ``validate`` / ... as the Hydra engine does: SIGTERM / SIGINT write ``interrupted.ckpt``
        and exit with ``128 + signal``; folders are checked writable and a resume file safe before any epoch."""
        ckpt_path = self._get(self.config_init, "ckpt_path", default=None)
        preflight(self.trainer, Path(self.trainer.default_root_dir), ckpt_path)
        with graceful_signals(self.trainer, self.interrupt):
            super()._run_subcommand(subcommand)


def _relocatable_default_checkpoint(trainer: pl.Trainer) -> None:
    """Swap Lightning's default ``ModelCheckpoint`` (added when the config names none) for one that resumes exactly
    into any directory (:class:`~vislite_common.lit.relocatable_checkpoint.RelocatableModelCheckpoint`)."""
    callbacks = trainer.callbacks
    for index, callback in enumerate(callbacks):
        if type(callback) is ModelCheckpoint and callback.dirpath is None and callback.monitor is None:
            replacement = RelocatableModelCheckpoint()
            callbacks[index] = replacement


def run_cli(args: list[str] | None = None, *, run: bool = True) -> LightningCLI:
    """Run LightningCLI over any vislite LightningModule / LightningDataModule (subclass mode)."""
    return VisliteCLI(
        pl.LightningModule,
        pl.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        seed_everything_default=0,
        save_config_callback=ReplayableConfig,
        save_config_kwargs={"overwrite": True},
        trainer_defaults={
            "precision": resolve_precision("auto"),
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

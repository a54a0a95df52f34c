"""End-of-training backbone export: the run directory gets ``backbone.safetensors`` + ``backbone.json``."""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from torch import nn

from vislite_common.backbones.manifest import write_backbone

log = logging.getLogger(__name__)


class BackboneExport(Callback):
    """After ``fit``, write the module's backbone into ``out_dir`` (the trainer's ``default_root_dir`` by default).

    The LightningModule names what to export with ``backbone_to_export() -> nn.Module`` and its method with
    ``backbone_method`` (default: the module's class name); modules without ``backbone_to_export`` are skipped with
    a warning. Written on rank zero only, both files atomically. ``input_size`` is the datamodule's
    ``input_size`` when it has one.
    """

    def __init__(self, *, out_dir: str | None = None) -> None:
        self.out_dir = out_dir
        self.manifest_path: Path | None = None

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        export = getattr(pl_module, "backbone_to_export", None)
        if not callable(export):
            log.warning("%s has no backbone_to_export(); no backbone written", type(pl_module).__name__)
            return
        if not trainer.is_global_zero:
            return
        backbone: nn.Module = export()
        checkpoint = _last_checkpoint(trainer)
        input_size = getattr(trainer.datamodule, "input_size", None) if trainer.datamodule is not None else None
        method = str(getattr(pl_module, "backbone_method", type(pl_module).__name__))
        out_dir = Path(self.out_dir or trainer.default_root_dir)
        self.manifest_path = write_backbone(
            backbone, out_dir, method=method, checkpoint=checkpoint,
            input_size=int(input_size) if isinstance(input_size, int) else None,
        )
        log.info("backbone written: %s (load with backbone.init=%s)", self.manifest_path, self.manifest_path)


def _last_checkpoint(trainer: pl.Trainer) -> str | None:
    """The newest checkpoint file this fit wrote (``last.ckpt`` when a callback keeps one), for the manifest."""
    paths = [
        path
        for callback in trainer.checkpoint_callbacks
        for path in (getattr(callback, "last_model_path", ""), getattr(callback, "best_model_path", ""))
        if path
    ]
    last = [path for path in paths if Path(path).name == "last.ckpt"]
    return (last or paths or [None])[0]

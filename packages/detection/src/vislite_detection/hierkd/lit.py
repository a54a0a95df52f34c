"""The HierKD LightningModule: detection training that hands image ids (captions) to the model and checks that
the data's categories match the class text embeddings."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from vislite_detection.hierkd.ovd_eval import ovd_metrics
from vislite_detection.lit.module import Batch, DetectionModule, plain


def check_categories(dataset: Any, expected: list[str], what: str) -> None:
    """Raise ``ValueError`` naming the file when ``dataset.category_names`` (label order) differ from ``expected``."""
    names = list(dataset.category_names)
    if names != list(expected):
        raise ValueError(
            f"{getattr(dataset, 'ann_file', 'dataset')}: categories {names} do not match the model's {what} "
            f"{list(expected)} (their text embeddings, in label order)"
        )


class HierKDModule(DetectionModule):
    """:class:`~vislite_detection.lit.DetectionModule` for :class:`~vislite_detection.hierkd.HierKD`.

    Training targets carry ``image_id`` (the model looks up a caption per image). At the start of fitting,
    validation and testing the datasets' category names must equal the model's classes, in label order: the
    seen classes for ``train`` (e.g. ``instances_train_seen.json``), the ``eval_mode`` classes for ``val`` /
    ``test`` (``instances_val_unseen.json`` for ZSD); otherwise a ``ValueError`` names the file. In GZSD mode
    (``instances_val_seen_unseen.json``) it also logs ``AP50_seen``, ``AP50_unseen`` and their harmonic mean.
    """

    def _check_classes(self, split: str, expected: list[str], what: str) -> None:
        datasets = getattr(self.trainer.datamodule, "datasets", {})
        dataset = datasets.get(split)
        if dataset is None or not hasattr(dataset, "category_names"):
            return
        check_categories(dataset, expected, what)

    def on_fit_start(self) -> None:
        self._check_classes("train", self.model.seen_classes, "seen classes")
        self._check_classes("val", self.model.eval_classes(), f"{self.model.eval_mode} classes")

    def on_validation_epoch_start(self) -> None:
        self._check_classes("val", self.model.eval_classes(), f"{self.model.eval_mode} classes")
        super().on_validation_epoch_start()

    def on_test_epoch_start(self) -> None:
        self._check_classes("test", self.model.eval_classes(), f"{self.model.eval_mode} classes")
        super().on_test_epoch_start()

    def _log_stats(self, stage: str) -> dict[str, float]:
        """COCO's statistics; in GZSD mode also ``AP50_seen`` / ``AP50_unseen`` / ``AP50_hm`` (per-class AP50)."""
        stats = super()._log_stats(stage)
        if self.model.eval_mode == "gzsd":
            evaluator = self.evaluators[stage]
            split = ovd_metrics(
                evaluator.gt.dataset,
                evaluator.results(),
                seen=self.model.seen_classes,
                unseen=self.model.unseen_classes,
            )
            for name, value in split.items():
                self.log(f"{stage}/{name}", value, sync_dist=False)
            stats = {**stats, **split}
        return stats

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        images, targets = batch
        model_targets: list[dict[str, Any]] = [
            {
                "boxes": plain(t["boxes"]),
                "labels": plain(t["labels"]),
                "image_id": torch.as_tensor(int(t["image_id"])),
            }
            for t in targets
        ]
        losses: dict[str, Tensor] = self.model([plain(image) for image in images], model_targets)
        loss = sum(losses.values())
        size = len(images)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=size)
        for name, value in losses.items():
            self.log(f"train/{name}", value, on_step=False, on_epoch=True, batch_size=size)
        return loss

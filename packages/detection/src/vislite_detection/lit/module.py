"""The LightningModule of vislite-detection: any torchvision-style detector, COCO evaluation, result files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from vislite_common.lit.base_module import VisliteModule
from vislite_common.lit.optim import OptimizerFactory
from vislite_detection.eval import CocoEvaluator
from vislite_detection.eval.coco_evaluator import IouType
from vislite_detection.lit.optim import DetectionSGD
from vislite_detection.lit.schedule import WarmupMultiStepSchedule
from vislite_detection.ndet.transform import with_box_correction
from vislite_detection.viz import draw_detections

MODEL_KEYS = ("boxes", "labels", "clean_boxes", "masks")
"""Target fields handed to the detector (the rest, e.g. ``crowd_boxes``, is for evaluation and drawing)."""

Batch = tuple[list[Tensor], list[dict[str, Any]]]


def plain(value: Any) -> Any:
    """A ``tv_tensors`` value as a plain tensor (torchvision detectors index and stack them freely)."""
    return value.as_subclass(torch.Tensor) if isinstance(value, torch.Tensor) else value


class DetectionModule(VisliteModule):
    """Trains a detector that returns a loss dict in training and ``[{boxes, scores, labels}]`` in evaluation.

    Logs ``train/loss`` and each loss term (``train/classification``, ...), with box correction also
    ``train/iou_noisy`` and ``train/iou_corrected`` (mean IoU to the clean boxes, when the data carries them);
    validation and test log COCO's 12 box statistics as ``val/AP``, ``val/AP50``, ... (faster-coco-eval, on the
    data module's ``val`` / ``test`` ground truth), and, for detectors that return ``masks`` (e.g. RDSNet), the
    mask statistics as ``val/segm_AP``, ... (``test_segm_results.json`` beside the box results). The test stage
    also writes ``test_results.json`` (COCO result
    format) and ``num_visualisations`` PNGs of detections into ``output_dir`` (default: the trainer's root).

    With a ``corrector`` (e.g. :class:`~vislite_detection.ndet.FCOSBoxCorrector` holding a frozen teacher) the
    detector trains on boxes corrected online on its own transformed batches (NDet's teacher-student training).
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        optimizer: DetectionSGD | OptimizerFactory,
        scheduler: WarmupMultiStepSchedule | None = None,
        corrector: nn.Module | None = None,
        output_dir: str | None = None,
        num_visualisations: int = 4,
        visualisation_score_thr: float = 0.3,
        compile: bool = False,
    ) -> None:
        if corrector is not None:
            model = with_box_correction(detector=model, corrector=corrector)
        super().__init__(model=model, optimizer=optimizer, scheduler=scheduler, compile=compile)  # type: ignore[arg-type]
        self.output_dir = output_dir
        self.num_visualisations = num_visualisations
        self.visualisation_score_thr = visualisation_score_thr
        self.evaluators: dict[str, CocoEvaluator] = {}
        self._drawn = 0

    def forward(self, images: list[Tensor]) -> list[dict[str, Tensor]]:
        return self.model(images)

    # ------------------------------------------------------------------------------------------------- training
    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        images, targets = batch
        model_targets = [{k: plain(t[k]) for k in MODEL_KEYS if k in t} for t in targets]
        losses: dict[str, Tensor] = self.model([plain(image) for image in images], model_targets)
        loss = sum(losses.values())
        size = len(images)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=size)
        for name, value in losses.items():
            self.log(f"train/{name}", value, on_step=False, on_epoch=True, batch_size=size)
        quality = getattr(self.model.transform, "box_quality", {})
        for name, value in quality.items():
            self.log(f"train/{name}", value, on_step=False, on_epoch=True, batch_size=size)
        return loss

    # ----------------------------------------------------------------------------------------------- evaluation
    def _evaluator(self, stage: str, iou_type: IouType = "bbox") -> CocoEvaluator:
        datamodule = self.trainer.datamodule
        datasets = getattr(datamodule, "datasets", {})
        if stage not in datasets or not hasattr(datasets[stage], "coco"):
            raise RuntimeError(f"evaluation needs the data module's {stage!r} COCO dataset (datasets[{stage!r}].coco)")
        dataset = datasets[stage]
        return CocoEvaluator(dataset.coco, iou_type=iou_type, label_to_category_id=dataset.label_to_category_id)

    def on_validation_epoch_start(self) -> None:
        self.evaluators["val"] = self._evaluator("val")
        self.evaluators.pop("val_segm", None)

    def on_test_epoch_start(self) -> None:
        self.evaluators["test"] = self._evaluator("test")
        self.evaluators.pop("test_segm", None)
        self._drawn = 0

    def _predict(self, batch: Batch, stage: str) -> list[dict[str, Tensor]]:
        images, targets = batch
        outputs = self.model([plain(image) for image in images])
        self.evaluators[stage].update(
            [
                {
                    "image_id": int(target["image_id"]),
                    "boxes": out["boxes"].float().cpu(),
                    "scores": out["scores"].float().cpu(),
                    "labels": out["labels"].cpu(),
                    "image_size": tuple(image.shape[-2:]),
                }
                for image, target, out in zip(images, targets, outputs)
            ]
        )
        if outputs and all("masks" in out for out in outputs):  # instance masks: segm evaluation beside bbox
            if f"{stage}_segm" not in self.evaluators:
                self.evaluators[f"{stage}_segm"] = self._evaluator(stage, "segm")
            self.evaluators[f"{stage}_segm"].update(
                [
                    {
                        "image_id": int(target["image_id"]),
                        "boxes": out["boxes"].float().cpu(),
                        "scores": out["scores"].float().cpu(),
                        "labels": out["labels"].cpu(),
                        "masks": out["masks"].cpu(),
                        "image_size": tuple(image.shape[-2:]),
                    }
                    for image, target, out in zip(images, targets, outputs)
                ]
            )
        return outputs

    def _log_stats(self, stage: str) -> dict[str, float]:
        stats = self.evaluators[stage].compute()
        for name, value in stats.items():
            self.log(f"{stage}/{name}", value, prog_bar=name in ("AP", "AP50"), sync_dist=False)
        if f"{stage}_segm" in self.evaluators:  # mask statistics as {stage}/segm_AP, ...
            for name, value in self.evaluators[f"{stage}_segm"].compute().items():
                self.log(f"{stage}/segm_{name}", value, prog_bar=name == "AP", sync_dist=False)
        return stats

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._predict(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._log_stats("val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        outputs = self._predict(batch, "test")
        if self.trainer.is_global_zero:
            self._draw(batch, outputs)

    def on_test_epoch_end(self) -> None:
        self._log_stats("test")
        if self.trainer.is_global_zero:
            self.evaluators["test"].write_results(self.results_dir() / "test_results.json")
            if "test_segm" in self.evaluators:
                self.evaluators["test_segm"].write_results(self.results_dir() / "test_segm_results.json")

    # ------------------------------------------------------------------------------------------------- outputs
    def results_dir(self) -> Path:
        """Where test results and visualisations go: ``output_dir``, else the trainer's root directory."""
        return Path(self.output_dir or self.trainer.default_root_dir)

    def _draw(self, batch: Batch, outputs: list[dict[str, Tensor]]) -> None:
        images, targets = batch
        names = self.trainer.datamodule.datasets["test"].category_names
        for image, target, out in zip(images, targets, outputs):
            if self._drawn >= self.num_visualisations:
                return
            draw_detections(
                image,
                out["boxes"],
                out["labels"],
                out["scores"],
                names,
                self.results_dir() / "visualisations" / f"{int(target['image_id']):012d}.png",
                gt_boxes=plain(target["boxes"]),
                score_thr=self.visualisation_score_thr,
                masks=out.get("masks"),
            )
            self._drawn += 1

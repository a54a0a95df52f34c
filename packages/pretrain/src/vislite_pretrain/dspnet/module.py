"""DSPNet pre-training as a LightningModule: per step the sandwich of widths, gradients accumulated, one step.

Each training step: the momentum teacher moves by EMA (once, before the largest width's pass, as US3L), its
projections of both views become the targets; then the widths of the sandwich rule run from the largest to the
smallest. The largest learns the SSL objective against the teacher, each smaller width the in-place distillation
loss against the distillation target (the teacher's projections, or the largest width's online projections of
this step). Each width's loss is back-propagated at once (freeing its graph) so the gradients of all widths
accumulate; the optimizer then steps once. (US3L steps the optimizer after every width; one step per batch is the
slimmable-networks rule and the issue's.) At the end of fitting every width is slimmed and exported.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch

from vislite_common.lit.base_module import VisliteModule
from vislite_common.lit.optim import OptimizerFactory
from vislite_common.lit.schedule import WarmupCosineSchedule
from vislite_pretrain.dspnet.export import export_widths
from vislite_pretrain.dspnet.model import DSPNet
from vislite_pretrain.dspnet.sandwich import sandwich_widths
from vislite_pretrain.mocov3.momentum import cosine_momentum


def _views(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The two views of a ``((view1, view2), labels)`` batch (labels are never used)."""
    views = batch[0] if isinstance(batch, (tuple, list)) and len(batch) == 2 else None
    if not isinstance(views, (tuple, list)) or len(views) != 2:
        raise TypeError("DSPNet expects batches ((view1, view2), labels); use a two-view datamodule (mocov3.data)")
    return views[0], views[1]


def _tag(width: float) -> str:
    return f"w{width:g}"


class DSPNetModule(VisliteModule):
    """Trains a :class:`DSPNet`.

    Args:
        base_momentum: the teacher's EMA momentum (US3L: a constant 0.99); ``momentum_cosine`` raises it to 1.0 on
            a cosine over the run (BYOL's schedule) instead.
        num_random: widths drawn per step besides the largest and the smallest (sandwich rule).
        ssl_weight: weight of the largest width's SSL loss; distill_weight: of each smaller width's distillation
            loss (US3L ``DISTILL_LAMBDA`` 1.0); student_ssl_weight: an SSL loss for the smaller widths too (0 in
            US3L).
        export_dir: where the per-width backbones go at the end of fitting (``width_<w>/backbone.safetensors`` +
            ``backbone.json``); ``None`` skips the export.
        seed: seeds the width draws (a pure function of ``seed`` and the step, so resumes draw the same widths).
    """

    def __init__(
        self,
        *,
        model: DSPNet,
        optimizer: OptimizerFactory,
        scheduler: WarmupCosineSchedule | None = None,
        base_momentum: float = 0.99,
        momentum_cosine: bool = False,
        num_random: int = 2,
        ssl_weight: float = 1.0,
        distill_weight: float = 1.0,
        student_ssl_weight: float = 0.0,
        export_dir: str | None = None,
        seed: int = 0,
        compile: bool = False,
    ) -> None:
        super().__init__(model=model, optimizer=optimizer, scheduler=scheduler, compile=compile)
        if not 0.0 <= base_momentum <= 1.0:
            raise ValueError(f"base_momentum must be in [0, 1], got {base_momentum}")
        sandwich_widths(model.width_mults, num_random, random.Random(0))  # validates num_random
        self.save_hyperparameters(ignore=["model", "optimizer", "scheduler"])
        self.automatic_optimization = False
        self.base_momentum, self.momentum_cosine = base_momentum, momentum_cosine
        self.num_random, self.seed = num_random, seed
        self.ssl_weight, self.distill_weight, self.student_ssl_weight = ssl_weight, distill_weight, student_ssl_weight
        self.export_dir = export_dir

    @property
    def dsp(self) -> DSPNet:
        """The DSPNet model itself (unwrapped from ``torch.compile``)."""
        return getattr(self.model, "_orig_mod", self.model)

    def current_momentum(self) -> float:
        if not self.momentum_cosine:
            return self.base_momentum
        total = max(1, int(self.trainer.estimated_stepping_batches))
        return cosine_momentum(self.global_step, total, self.base_momentum)

    def step_widths(self) -> list[float]:
        """This step's sandwich of widths, largest first."""
        rng = random.Random(self.seed * 1_000_003 + self.global_step)
        return sandwich_widths(self.dsp.width_mults, self.num_random, rng)

    def sandwich_losses(
        self, view1: torch.Tensor, view2: torch.Tensor, widths: list[float], *, backward: bool
    ) -> dict[float, torch.Tensor]:
        """Each width's (weighted) loss, largest first; with ``backward`` each is back-propagated at once."""
        dsp = self.dsp
        targets = dsp.teacher_targets(view1, view2)
        distill_targets = targets
        losses: dict[float, torch.Tensor] = {}
        for width in widths:
            projections = dsp.project(view1, view2, width=width)
            if width == dsp.max_width:
                loss = self.ssl_weight * dsp.ssl_loss(projections, targets)
                if dsp.distill_target == "online":
                    distill_targets = (projections[0].detach(), projections[1].detach())
            else:
                loss = self.distill_weight * dsp.distill_loss(projections, distill_targets)
                if self.student_ssl_weight:
                    loss = loss + self.student_ssl_weight * dsp.ssl_loss(projections, targets)
            if backward:
                self.manual_backward(loss)
            losses[width] = loss.detach()
        dsp.set_width(dsp.max_width)
        if backward:
            dsp.enqueue(torch.cat(targets))
        return losses

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        view1, view2 = _views(batch)
        optimizer = self.optimizers()
        momentum = self.current_momentum()
        self.dsp.update_teacher(momentum)
        optimizer.zero_grad()
        losses = self.sandwich_losses(view1, view2, self.step_widths(), backward=True)
        optimizer.step()
        scheduler = self.lr_schedulers()
        if scheduler is not None:
            scheduler.step()
        total = torch.stack(list(losses.values())).sum()
        self.log("train/loss", total, on_step=True, on_epoch=True, prog_bar=True)
        for width, loss in losses.items():
            self.log(f"train/loss_{_tag(width)}", loss, on_step=False, on_epoch=True)
        self.log("train/momentum", momentum, on_step=True, on_epoch=False)
        self.log("train/num_widths", float(len(losses)), on_step=True, on_epoch=False)
        return total

    def _evaluate(self, batch: Any, stage: str) -> None:
        view1, view2 = _views(batch)
        losses = self.sandwich_losses(view1, view2, sorted(self.dsp.width_mults, reverse=True), backward=False)
        self.log(f"{stage}/loss", losses[self.dsp.max_width], on_epoch=True, prog_bar=True, sync_dist=True)
        for width, loss in losses.items():
            self.log(f"{stage}/loss_{_tag(width)}", loss, on_epoch=True, sync_dist=True)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_fit_end(self) -> None:
        if self.export_dir is None or not self.trainer.is_global_zero:
            return
        dsp = self.dsp
        source = {
            "method": "dspnet" if len(dsp.width_mults) > 1 else "byol_individual",
            "ssl": dsp.ssl,
            "width_mults": list(dsp.width_mults),
            "distill_target": dsp.distill_target,
            "global_step": int(self.global_step),
        }
        export_widths(dsp.backbone, Path(self.export_dir), source=source)

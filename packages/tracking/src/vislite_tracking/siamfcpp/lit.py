"""SiamFC++ training: dense box targets from the search box, focal / centerness / IoU losses, SGD with a
backbone learning-rate multiplier, linear warm-up then cosine (video_analyst's train recipes)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vislite_common.lit.base_module import VisliteModule
from vislite_common.lit.optim import OptimizerFactory
from vislite_common.lit.schedule import WarmupCosineSchedule
from vislite_tracking.siamfcpp.loss import centerness_loss, focal_loss, iou_loss
from vislite_tracking.siamfcpp.targets import make_densebox_target


class BackboneScaledSGD(OptimizerFactory):
    """:class:`OptimizerFactory` whose groups are split so the backbone's parameters (``backbone.*``) train at
    ``backbone_lr_scale`` x the learning rate (video_analyst's ``lr_multiplier`` 0.1 on ``basemodel``)."""

    def __init__(self, *, backbone_lr_scale: float = 0.1, **kwargs: Any) -> None:
        kwargs.setdefault("name", "sgd")
        super().__init__(**kwargs)
        self.backbone_lr_scale = float(backbone_lr_scale)

    def __call__(self, model: nn.Module, *, global_batch_size: int) -> torch.optim.Optimizer:
        optimizer = super().__call__(model, global_batch_size=global_batch_size)
        backbone = getattr(model, "backbone", None)
        ids = {id(p) for p in backbone.parameters()} if backbone is not None else set()
        groups = []
        for group in optimizer.param_groups:
            rest = {k: v for k, v in group.items() if k != "params"}
            for inside in (True, False):
                params = [p for p in group["params"] if (id(p) in ids) == inside]
                if params:
                    scale = rest.get("lr_scale", 1.0) * (self.backbone_lr_scale if inside else 1.0)
                    groups.append(
                        {
                            **rest,
                            "params": params,
                            "lr_scale": scale,
                            "lr": rest["lr"] * (scale / rest.get("lr_scale", 1.0)),
                        }
                    )
        return type(optimizer)(groups, **optimizer.defaults)


class SiamFCppModule(VisliteModule):
    """Trains a :class:`~vislite_tracking.siamfcpp.model.SiamFCpp` on ``{im_z, im_x, box_x}`` batches.

    Loss ``cls_weight · focal(α 0.75, γ 2) + ctr_weight · BCE centerness + reg_weight · -log IoU`` (the recipe's
    1 / 1 / 3). Logs ``{train,val}/{loss,cls,ctr,reg,iou}``; checkpoints carry the build arguments under
    ``siamfcpp`` for :func:`vislite_tracking.siamfcpp.load_siamfcpp`.
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: WarmupCosineSchedule | None = None,
        cls_weight: float = 1.0,
        ctr_weight: float = 1.0,
        reg_weight: float = 3.0,
        focal_alpha: float = 0.75,
        focal_gamma: float = 2.0,
        compile: bool = False,
    ) -> None:
        super().__init__(model=model, optimizer=optimizer, scheduler=scheduler, compile=compile)
        self.weights = (float(cls_weight), float(ctr_weight), float(reg_weight))
        self.focal = (float(focal_alpha), float(focal_gamma))

    def losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The loss terms of one batch."""
        out = self.model(batch["im_z"], batch["im_x"])
        side = int(round(out["cls_pred"].shape[1] ** 0.5))
        stride = self.model.head.total_stride
        cls_gt, ctr_gt, box_gt = make_densebox_target(
            batch["box_x"], x_size=batch["im_x"].shape[-1], score_size=side, total_stride=stride
        )
        cls = focal_loss(out["cls_pred"], cls_gt, alpha=self.focal[0], gamma=self.focal[1])
        ctr = centerness_loss(out["ctr_pred"], ctr_gt)
        reg, iou = iou_loss(out["box_pred"], box_gt, cls_gt)
        w_cls, w_ctr, w_reg = self.weights
        return dict(loss=w_cls * cls + w_ctr * ctr + w_reg * reg, cls=cls, ctr=ctr, reg=reg, iou=iou)

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        losses = self.losses(batch)
        size = batch["im_x"].shape[0]
        for name, value in losses.items():
            self.log(f"{stage}/{name}", value, prog_bar=name in ("loss", "iou"), batch_size=size)
        return losses["loss"]

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        model = getattr(self.model, "_orig_mod", self.model)
        if getattr(model, "build_args", None) is not None:
            checkpoint["siamfcpp"] = model.build_args

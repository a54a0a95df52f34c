"""The SiamFC++ network: shared backbone, cls / reg adjust convs, depth-wise correlation, dense box head."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vislite_tracking.siamfcpp.model.blocks import ConvBNReLU, xcorr_depthwise
from vislite_tracking.siamfcpp.model.head import DenseboxHead


class SiamFCpp(nn.Module):
    """``forward(template, search)`` on raw BGR 0-255 crops (B, 3, z, z) / (B, 3, x, x) ->
    ``dict(cls_pred, ctr_pred, box_pred)`` (logits and xyxy crop boxes, see :class:`DenseboxHead`).

    ``template_kernels`` / ``track`` split the two halves for inference; ``build_args`` (set by the builder)
    travels in checkpoints so the network can be rebuilt.
    """

    def __init__(self, backbone: nn.Module, head: DenseboxHead, *, z_size: int = 127, x_size: int = 303) -> None:
        super().__init__()
        width = backbone.out_channels
        self.backbone = backbone
        self.c_z_k = ConvBNReLU(width, width, relu=False)
        self.r_z_k = ConvBNReLU(width, width, relu=False)
        self.c_x = ConvBNReLU(width, width, relu=False)
        self.r_x = ConvBNReLU(width, width, relu=False)
        for adjust in (self.c_z_k, self.r_z_k, self.c_x, self.r_x):
            nn.init.normal_(adjust.conv.weight, std=0.01)
        self.head = head
        self.z_size, self.x_size = z_size, x_size
        self.build_args: dict[str, Any] | None = None

    def template_kernels(self, template: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(cls, reg) correlation kernels of a (B, 3, z, z) template crop."""
        feature = self.backbone(template)
        return self.c_z_k(feature), self.r_z_k(feature)

    def track(
        self, search: torch.Tensor, kernels: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(cls logits, ctr logits, xyxy boxes) of a (B, 3, x, x) search crop against template kernels."""
        feature = self.backbone(search)
        c_out = xcorr_depthwise(self.c_x(feature), kernels[0])
        r_out = xcorr_depthwise(self.r_x(feature), kernels[1])
        return self.head(c_out, r_out, search.shape[-1])

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> dict[str, torch.Tensor]:
        cls, ctr, box = self.track(search, self.template_kernels(template))
        return {"cls_pred": cls, "ctr_pred": ctr, "box_pred": box}

    @torch.no_grad()
    def score_size(self) -> int:
        """Side of the score map for this network's crop sizes."""
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        z = torch.zeros(1, 3, self.z_size, self.z_size, device=device)
        x = torch.zeros(1, 3, self.x_size, self.x_size, device=device)
        size = int(round(self(z, x)["cls_pred"].shape[1] ** 0.5))
        self.train(was_training)
        return size

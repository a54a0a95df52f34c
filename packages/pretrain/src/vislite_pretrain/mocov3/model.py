"""MoCo-v3 for ViT: base encoder + projector + predictor against a momentum encoder + projector.

Heads as in MoCo-v3 (facebookresearch/moco-v3 ``moco/builder.py``, MAE-Lite ``projects/mocov3/mocov3.py``):

* projector: 3 layers ``D -> 4096 -> 4096 -> 256``, Linear without bias, BatchNorm + ReLU after the hidden
  layers, a final BatchNorm without affine parameters;
* predictor: 2 layers ``256 -> 4096 -> 256``, same pattern (final BatchNorm without affine for ViT).

::

    moco = build_mocov3("vislite_vit_tiny", img_size=224)       # the MAE-Lite ViT-Tiny recipe
    moco.update_momentum_encoder(m)                             # every iteration, before the forward
    loss = moco(view1, view2)                                   # symmetric InfoNCE x 2T

State-dict keys: ``base_encoder.*`` (a plain timm ViT), ``base_projector.*``, ``predictor.*``,
``momentum_encoder.*``, ``momentum_projector.*``. The reference keeps each projector as its encoder's ``head``
(``base_encoder.head.*``); ``mocov3.loading`` maps between the two.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from vislite_pretrain.mocov3.encoder import build_moco_vit
from vislite_pretrain.mocov3.loss import symmetric_loss
from vislite_pretrain.mocov3.momentum import momentum_update


def build_mlp(num_layers: int, in_dim: int, hidden_dim: int, out_dim: int, *, last_bn: bool = True) -> nn.Sequential:
    """MoCo-v3's MLP: ``num_layers`` bias-free Linears; BatchNorm + ReLU between them; a final BatchNorm without
    affine parameters when ``last_bn``."""
    if num_layers < 1:
        raise ValueError(f"an MLP needs at least one layer, got num_layers={num_layers}")
    layers: list[nn.Module] = []
    for index in range(num_layers):
        dim_in = in_dim if index == 0 else hidden_dim
        dim_out = out_dim if index == num_layers - 1 else hidden_dim
        layers.append(nn.Linear(dim_in, dim_out, bias=False))
        if index < num_layers - 1:
            layers += [nn.BatchNorm1d(dim_out), nn.ReLU(inplace=True)]
        elif last_bn:
            layers.append(nn.BatchNorm1d(dim_out, affine=False))
    return nn.Sequential(*layers)


class MoCoV3(nn.Module):
    """MoCo-v3: queries from ``predictor(projector(encoder(x)))``, keys from the momentum copies.

    Args:
        encoder: the base encoder, ``encoder(images) -> [N, D]`` (a headless vislite ViT, class-token output).
        projector: ``[N, D] -> [N, dim]``; predictor: ``[N, dim] -> [N, dim]``.
        temperature: the softmax temperature ``T`` (0.2 for ViT).

    The momentum encoder and projector start as copies of the base ones and never receive gradients; call
    :meth:`update_momentum_encoder` once per iteration.
    """

    def __init__(
        self, *, encoder: nn.Module, projector: nn.Module, predictor: nn.Module, temperature: float = 0.2
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature
        self.base_encoder = encoder
        self.base_projector = projector
        self.predictor = predictor
        self.momentum_encoder = copy.deepcopy(encoder).requires_grad_(False)
        self.momentum_projector = copy.deepcopy(projector).requires_grad_(False)

    def queries(self, images: torch.Tensor) -> torch.Tensor:
        """``[N, C, H, W] -> [N, dim]`` through the base encoder, projector and predictor."""
        return self.predictor(self.base_projector(self.base_encoder(images)))

    @torch.no_grad()
    def keys(self, images: torch.Tensor) -> torch.Tensor:
        """``[N, C, H, W] -> [N, dim]`` through the momentum encoder and projector (no gradient)."""
        return self.momentum_projector(self.momentum_encoder(images))

    @torch.no_grad()
    def update_momentum_encoder(self, momentum: float) -> None:
        """``momentum_* = m * momentum_* + (1 - m) * base_*`` for the encoder and the projector."""
        momentum_update(self.base_encoder, self.momentum_encoder, momentum)
        momentum_update(self.base_projector, self.momentum_projector, momentum)

    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        """The symmetric loss of two batches of views ``[N, C, H, W]`` (each view's queries against the other's
        keys)."""
        q1, q2 = self.queries(view1), self.queries(view2)
        k1, k2 = self.keys(view1), self.keys(view2)
        return symmetric_loss(q1, q2, k1, k2, self.temperature)


def build_mocov3(
    encoder_name: str = "vislite_vit_tiny",
    *,
    img_size: int = 224,
    dim: int = 256,
    mlp_dim: int = 4096,
    temperature: float = 0.2,
    stop_grad_conv1: bool = False,
    **encoder_kwargs: Any,
) -> MoCoV3:
    """MoCo-v3 over a vislite ViT: ``dim``-d output, ``mlp_dim`` hidden units, optional frozen patch projection;
    ``encoder_kwargs`` go to the encoder's ``timm.create_model``."""
    encoder = build_moco_vit(encoder_name, img_size=img_size, stop_grad_conv1=stop_grad_conv1, **encoder_kwargs)
    width = encoder.num_features
    return MoCoV3(
        encoder=encoder,
        projector=build_mlp(3, width, mlp_dim, dim),
        predictor=build_mlp(2, dim, mlp_dim, dim),
        temperature=temperature,
    )

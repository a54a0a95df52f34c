"""DSPNet: a slimmable backbone pre-trained once by discriminative SSL (largest width) and in-place distillation
(smaller widths), against a momentum teacher pinned at the largest width.

Heads as US3L's BYOL (``utils/ssl_algorithms/byol.py``): the projector is the encoder's ``fc`` (input slimmed,
``feature -> hidden``, with bias), BatchNorm, ReLU, ``hidden -> hidden`` (no bias), BatchNorm, ReLU,
``hidden -> dim``; the predictor ``dim -> hidden`` (no bias), BatchNorm, ReLU, ``hidden -> dim``; the smaller widths
get a second, separate predictor (``distill_head``, US3L's ``NEW_DISTILL_HEAD``). The projector's BatchNorms
are shared by every width, as in US3L. The teacher is a copy of the backbone and projector at the largest width,
moved by EMA; it never receives gradients.

::

    dsp = build_dspnet("resnet50")                       # BYOL base, widths 1.0 / 0.75 / 0.5 / 0.25
    dsp.update_teacher(0.99)                             # once per step, before the largest width's pass
    targets = dsp.teacher_targets(v1, v2)                # teacher projections, both views
    z = dsp.project(v1, v2, width=1.0)                   # online projections at a width
    loss = dsp.ssl_loss(z, targets)                      # largest width; smaller: dsp.distill_loss(z, target)
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
from torch import nn

from vislite_common.backbones.slimmable import SlimmableMixin, create_slimmable_backbone
from vislite_common.backbones.slimmable_ops import SlimmableLinear
from vislite_pretrain.dspnet.loss import cross_view_cosine, info_nce, queue_info_nce
from vislite_pretrain.mocov3.momentum import momentum_update

SSL = Literal["byol", "mocov2", "mocov3"]
DistillTarget = Literal["teacher", "online"]
Views = tuple[torch.Tensor, torch.Tensor]


def _predictor(dim: int, hidden_dim: int) -> nn.Sequential:
    """US3L's 2-layer predictor ``dim -> hidden (no bias) -> BN -> ReLU -> dim``."""
    return nn.Sequential(
        nn.Linear(dim, hidden_dim, bias=False),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, dim),
    )


def _projector(
    feature_dims: tuple[int, ...], width_mults: tuple[float, ...], dim: int, hidden_dim: int
) -> nn.Sequential:
    """US3L's 3-layer projector; its first layer takes the backbone feature of the current width."""
    return nn.Sequential(
        SlimmableLinear(feature_dims, [hidden_dim] * len(feature_dims), width_mults=width_mults),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, hidden_dim, bias=False),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, dim),
    )


class DSPNet(nn.Module):
    """Online slimmable backbone + projector + predictor(s), a momentum teacher at the largest width.

    Args:
        backbone: a slimmable backbone (``width_mults``, ``feature_dims``, a ``width_mult`` setter).
        ssl: the largest width's objective: ``byol`` (negative cosine of prediction and teacher projection,
            cross-view), ``mocov3`` (in-batch InfoNCE of prediction against teacher projection, x 2T) or ``mocov2``
            (InfoNCE of the projection against the teacher's and a queue of ``queue_size`` past teacher keys; no
            predictor).
        distill_target: what the smaller widths learn from: ``teacher`` (the momentum teacher's projections,
            US3L) or ``online`` (the largest width's online projections of this step, detached).
        distill_head: give the smaller widths their own predictor (US3L's ``NEW_DISTILL_HEAD``); otherwise they
            share the largest width's (or use their projection directly under ``mocov2``).
    """

    def __init__(
        self,
        *,
        backbone: nn.Module,
        ssl: SSL = "byol",
        dim: int = 2048,
        hidden_dim: int = 2048,
        temperature: float = 0.2,
        queue_size: int = 65536,
        distill_target: DistillTarget = "teacher",
        distill_head: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(backbone, SlimmableMixin):
            raise TypeError(f"DSPNet needs a slimmable backbone, got {type(backbone).__name__}")
        if ssl not in ("byol", "mocov2", "mocov3"):
            raise ValueError(f"ssl must be 'byol', 'mocov2' or 'mocov3', got {ssl!r}")
        if distill_target not in ("teacher", "online"):
            raise ValueError(f"distill_target must be 'teacher' or 'online', got {distill_target!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.ssl, self.distill_target, self.temperature = ssl, distill_target, float(temperature)
        self.width_mults: tuple[float, ...] = tuple(backbone.width_mults)
        self.max_width = max(self.width_mults)
        self.backbone = backbone
        self.projector = _projector(tuple(backbone.feature_dims), self.width_mults, dim, hidden_dim)
        self.predictor = _predictor(dim, hidden_dim) if ssl != "mocov2" else None
        self.distill_predictor = _predictor(dim, hidden_dim) if distill_head else None
        self.set_width(self.max_width)
        self.teacher_backbone = copy.deepcopy(backbone).requires_grad_(False)
        self.teacher_projector = copy.deepcopy(self.projector).requires_grad_(False)
        if ssl == "mocov2":
            if queue_size < 1:
                raise ValueError(f"queue_size must be >= 1 for mocov2, got {queue_size}")
            self.register_buffer("queue", nn.functional.normalize(torch.randn(queue_size, dim), dim=1))
            self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    # ----------------------------------------------------------------------------------------------- widths
    def set_width(self, width_mult: float) -> None:
        """Run the online backbone and projector at ``width_mult`` (the teacher stays at the largest width)."""
        self.backbone.width_mult = width_mult
        self.projector[0].width_mult = self.backbone.width_mult

    # ---------------------------------------------------------------------------------------------- forward
    def project(self, view1: torch.Tensor, view2: torch.Tensor, *, width: float) -> Views:
        """Online projections ``([N, dim], [N, dim])`` of both views at ``width``."""
        self.set_width(width)
        return self.projector(self.backbone(view1)), self.projector(self.backbone(view2))

    @torch.no_grad()
    def teacher_targets(self, view1: torch.Tensor, view2: torch.Tensor) -> Views:
        """The momentum teacher's projections of both views (no gradient)."""
        return (
            self.teacher_projector(self.teacher_backbone(view1)),
            self.teacher_projector(self.teacher_backbone(view2)),
        )

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """``teacher = m * teacher + (1 - m) * online`` for the backbone (all widths' parameters) and projector."""
        momentum_update(self.backbone, self.teacher_backbone, momentum)
        momentum_update(self.projector, self.teacher_projector, momentum)

    # ----------------------------------------------------------------------------------------------- losses
    def ssl_loss(self, projections: Views, targets: Views) -> torch.Tensor:
        """The SSL objective of online ``projections`` against the teacher's ``targets`` (both views)."""
        z1, z2 = projections
        t1, t2 = targets
        if self.ssl == "mocov2":
            return 0.5 * (
                queue_info_nce(z1, t2, self.queue, self.temperature)
                + queue_info_nce(z2, t1, self.queue, self.temperature)
            )
        assert self.predictor is not None
        p1, p2 = self.predictor(z1), self.predictor(z2)
        if self.ssl == "byol":
            return cross_view_cosine((p1, p2), targets)
        return info_nce(p1, t2, self.temperature) + info_nce(p2, t1, self.temperature)

    def distill_loss(self, projections: Views, targets: Views) -> torch.Tensor:
        """In-place distillation of a smaller width: negative cosine of its (distillation-head) outputs against the
        distillation targets, cross-view (US3L's ``CosineSimilarity``)."""
        head = self.distill_predictor if self.distill_predictor is not None else self.predictor
        outputs = projections if head is None else (head(projections[0]), head(projections[1]))
        return cross_view_cosine(outputs, targets)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """MoCo-v2: replace the oldest queue entries by the normalised ``keys`` ``[N, dim]``."""
        if self.ssl != "mocov2":
            return
        size, ptr = self.queue.shape[0], int(self.queue_ptr)
        keys = nn.functional.normalize(keys, dim=1)[-size:]  # at most one queue's worth, newest kept
        index = (torch.arange(keys.shape[0], device=keys.device) + ptr) % size
        self.queue[index] = keys
        self.queue_ptr.fill_((ptr + keys.shape[0]) % size)


def build_dspnet(
    backbone: str = "resnet50",
    *,
    width_mults: tuple[float, ...] | list[float] = (1.0, 0.75, 0.5, 0.25),
    ssl: SSL = "byol",
    dim: int = 2048,
    hidden_dim: int = 2048,
    temperature: float = 0.2,
    queue_size: int = 65536,
    distill_target: DistillTarget = "teacher",
    distill_head: bool = True,
) -> DSPNet:
    """DSPNet over slimmable backbone ``backbone`` (``resnet50``, ``mobilenetv2``, ``test_resnet``, ...) at
    ``width_mults``; a single width gives an individually pre-trained network of that width (the baselines)."""
    net = create_slimmable_backbone(backbone, width_mult=max(width_mults), width_mults=tuple(width_mults))
    return DSPNet(
        backbone=net,
        ssl=ssl,
        dim=dim,
        hidden_dim=hidden_dim,
        temperature=temperature,
        queue_size=queue_size,
        distill_target=distill_target,
        distill_head=distill_head,
    )

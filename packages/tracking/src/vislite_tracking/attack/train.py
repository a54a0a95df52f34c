"""Training the universal perturbations against a frozen SiamFC++ victim (SiamAttack ``baseline``'s trainer):
fake boxes of the patch's size around the search centre, the attack loss, FGSM sign steps on both
perturbations, files saved at iterations 1, 2, 4, 8, ..."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vislite_common.lit.frozen import freeze
from vislite_tracking.attack.loss import attack_loss
from vislite_tracking.attack.perturbation import Perturbation, initial_perturbation, save_perturbation
from vislite_tracking.attack.placement import check_phase
from vislite_tracking.siamfcpp.model import SiamFCpp

STEP_X = {"OURS": 0.1, "AP": 0.5, "UAP": 0.1}  # FGSM step of the search patch by phase
STEP_Z = 0.1  # FGSM step of the template perturbation (0 in AP: the template stays clean)


@dataclass
class AttackSettings:
    """What the attack trains: phase, patch size, iterations, steps, loss weights, fake-box jitter."""

    phase: str = "OURS"
    patch_size: int = 64
    iterations: int = 2048
    step_z: float | None = None  # None: 0.1 (0 for AP)
    step_x: float | None = None  # None: 0.5 for AP, else 0.1
    cls_weight: float = 1.0
    ctr_weight: float = 1.0
    reg_weight: float = 1.0
    jitter: float = 64.0  # fake-box centre = search centre + U(-jitter, jitter)
    seed: int = 0

    def steps(self) -> tuple[float, float]:
        """(step_z, step_x) of the phase unless set."""
        check_phase(self.phase)
        step_z = (0.0 if self.phase == "AP" else STEP_Z) if self.step_z is None else self.step_z
        step_x = STEP_X[self.phase] if self.step_x is None else self.step_x
        return float(step_z), float(step_x)


def sample_fake_boxes(
    batch: int, x_size: int, patch_size: int, phase: str, jitter: float, rng: np.random.Generator
) -> torch.Tensor:
    """(B, 4) xyxy P x P fake boxes: centre ``x_size / 2 + U(-jitter, jitter)`` (UAP: fixed at centre - 64),
    corners ``c ± (P - 1) / 2``."""
    if phase == "UAP":
        centres = np.full((batch, 2), x_size / 2 - 64.0)
    else:
        centres = x_size / 2 + rng.uniform(-jitter, jitter, size=(batch, 2))
    half = (patch_size - 1) / 2
    return torch.as_tensor(np.concatenate([centres - half, centres + half], axis=1), dtype=torch.float32)


def apply_training_patch(
    im_x: torch.Tensor, patch_x: torch.Tensor, fake_boxes: torch.Tensor, phase: str
) -> torch.Tensor:
    """The search crops with the patch added (OURS) / pasted (AP) at each fake box's truncated top-left corner,
    or the whole-crop perturbation added (UAP)."""
    if phase == "UAP":
        return im_x + patch_x
    size = patch_x.shape[-1]
    height, width = im_x.shape[-2:]
    rows = []
    for i in range(im_x.shape[0]):
        x1 = min(max(int(fake_boxes[i, 0]), 0), width - size)
        y1 = min(max(int(fake_boxes[i, 1]), 0), height - size)
        canvas = torch.nn.functional.pad(patch_x[0], (x1, width - size - x1, y1, height - size - y1))
        if phase == "AP":
            mask = torch.zeros_like(im_x[i, :1])
            mask[:, y1 : y1 + size, x1 : x1 + size] = 1
            rows.append(im_x[i] * (1 - mask) + canvas)
        else:
            rows.append(im_x[i] + canvas)
    return torch.stack(rows)  # (B, 3, H, W)


def train_attack(
    network: SiamFCpp,
    batches: Iterable[dict[str, torch.Tensor]],
    settings: AttackSettings,
    *,
    save_dir: str | os.PathLike | None = None,
    start: Perturbation | None = None,
    log: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[Perturbation, list[dict[str, float]]]:
    """Run ``settings.iterations`` FGSM iterations, one batch (``im_z``, ``im_x``) each; returns the perturbation
    and the per-iteration losses. With ``save_dir``, ``perturbation_<n>.pt`` is written at n = 1, 2, 4, ..."""
    step_z, step_x = settings.steps()
    network = freeze(network)  # the victim: eval mode (BatchNorm statistics fixed), no parameter gradients
    device = next(network.parameters()).device
    x_size, z_size = network.x_size, network.z_size
    pert = start or initial_perturbation(settings.phase, settings.patch_size, z_size, x_size)
    pert.check("start perturbation")
    if pert.phase != settings.phase:
        raise ValueError(f"start perturbation is phase {pert.phase}, settings ask for {settings.phase}")
    rng = np.random.default_rng(settings.seed)
    uap_z, patch_x = pert.uap_z.to(device), pert.patch_x.to(device)
    history: list[dict[str, float]] = []
    iterator = iter(batches)
    for n in range(pert.iteration + 1, pert.iteration + settings.iterations + 1):
        batch = next(iterator)
        im_z, im_x = batch["im_z"].to(device), batch["im_x"].to(device)
        if im_x.shape[-1] != x_size or im_z.shape[-1] != z_size:
            raise ValueError(
                f"batch crops {im_z.shape[-1]} / {im_x.shape[-1]} px, the victim takes {z_size} / {x_size}"
            )
        fake = sample_fake_boxes(im_x.shape[0], x_size, pert.patch_size, settings.phase, settings.jitter, rng)
        uap_z.requires_grad_(True)
        patch_x.requires_grad_(True)
        out = network(im_z + uap_z, apply_training_patch(im_x, patch_x, fake.to(device), settings.phase))
        side = int(round(out["cls_pred"].shape[1] ** 0.5))
        losses = attack_loss(
            out["cls_pred"],
            out["ctr_pred"],
            out["box_pred"],
            fake,
            uap_z,
            patch_x,
            phase=settings.phase,
            cls_weight=settings.cls_weight,
            ctr_weight=settings.ctr_weight,
            reg_weight=settings.reg_weight,
            x_size=x_size,
            score_size=side,
            total_stride=network.head.total_stride,
        )
        if not math.isfinite(float(losses["total"].detach())):
            raise FloatingPointError(f"attack loss is {float(losses['total'].detach())} at iteration {n}")
        grad_z, grad_x = torch.autograd.grad(losses["total"], [uap_z, patch_x])
        uap_z = (uap_z - step_z * grad_z.sign()).detach()
        patch_x = (patch_x - step_x * grad_x.sign()).detach()
        record = {k: float(v.detach()) for k, v in losses.items()}
        history.append(record)
        if log is not None:
            log(n, record)
        if save_dir is not None and n & (n - 1) == 0:
            current = Perturbation(uap_z.cpu(), patch_x.cpu(), settings.phase, n, dict(network.build_args or {}))
            save_perturbation(current, Path(save_dir) / f"perturbation_{n}.pt")
    final = Perturbation(uap_z.cpu(), patch_x.cpu(), settings.phase, pert.iteration + settings.iterations)
    final.victim = dict(network.build_args or {})
    return final.check("trained perturbation"), history

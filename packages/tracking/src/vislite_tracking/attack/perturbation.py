"""The learned perturbations: a template perturbation ``uap_z`` and a search patch ``patch_x``, their initial
values per phase, and their files (with the crop sizes and victim they were trained for)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vislite_tracking.attack.placement import check_phase


@dataclass
class Perturbation:
    """``uap_z`` (1, 3, z, z) added to the template crop; ``patch_x`` (1, 3, P, P) added (OURS) or pasted (AP)
    beside the target in each search crop, or (1, 3, x, x) added to the whole crop (UAP). Raw BGR 0-255 units."""

    uap_z: torch.Tensor
    patch_x: torch.Tensor
    phase: str = "OURS"
    iteration: int = 0
    victim: dict[str, Any] = field(default_factory=dict)

    @property
    def patch_size(self) -> int:
        return int(self.patch_x.shape[-1])

    def check(self, where: str = "perturbation") -> Perturbation:
        """ValueError unless the shapes are right and every value is finite."""
        check_phase(self.phase)
        for name, tensor in (("uap_z", self.uap_z), ("patch_x", self.patch_x)):
            if tensor.ndim != 4 or tuple(tensor.shape[:2]) != (1, 3) or tensor.shape[2] != tensor.shape[3]:
                raise ValueError(f"{where}: {name} must have shape (1, 3, S, S), got {tuple(tensor.shape)}")
            if not torch.isfinite(tensor).all():
                bad = int((~torch.isfinite(tensor)).sum())
                raise ValueError(f"{where}: {name} holds {bad} NaN / infinite values (diverged training?)")
        return self


def initial_perturbation(phase: str, patch_size: int, z_size: int, x_size: int) -> Perturbation:
    """SiamAttack's starting point: ``uap_z`` 0; ``patch_x`` 0 (OURS), 127 (AP) or a 0 whole-crop one (UAP)."""
    check_phase(phase)
    uap_z = torch.zeros(1, 3, z_size, z_size)
    if phase == "UAP":
        patch_x = torch.zeros(1, 3, x_size, x_size)
    elif phase == "AP":
        patch_x = torch.full((1, 3, patch_size, patch_size), 127.0)
    else:
        patch_x = torch.zeros(1, 3, patch_size, patch_size)
    if phase != "UAP" and not 0 < patch_size < x_size:
        raise ValueError(f"patch_size: expected 0 < P < x_size = {x_size}, got {patch_size}")
    return Perturbation(uap_z=uap_z, patch_x=patch_x, phase=phase)


def save_perturbation(perturbation: Perturbation, path: str | os.PathLike) -> Path:
    """Write a perturbation file (tensors, phase, iteration, victim build arguments)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "uap_z": perturbation.uap_z.detach().cpu(),
        "patch_x": perturbation.patch_x.detach().cpu(),
        "phase": perturbation.phase,
        "iteration": perturbation.iteration,
        "victim": dict(perturbation.victim),
    }
    torch.save(blob, path)
    return path


def load_perturbation(path: str | os.PathLike, *, z_size: int | None = None, x_size: int | None = None) -> Perturbation:
    """Read a perturbation file; a NaN value, a wrong shape or crop sizes other than the victim's (``z_size``,
    ``x_size``) are a ValueError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"perturbation file {path} does not exist")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or not {"uap_z", "patch_x", "phase"} <= set(blob):
        raise ValueError(f"{path}: not a perturbation file (expected keys uap_z, patch_x, phase)")
    pert = Perturbation(
        uap_z=blob["uap_z"].float(),
        patch_x=blob["patch_x"].float(),
        phase=str(blob["phase"]),
        iteration=int(blob.get("iteration", 0)),
        victim=dict(blob.get("victim", {})),
    ).check(str(path))
    if z_size is not None and pert.uap_z.shape[-1] != z_size:
        raise ValueError(f"{path}: uap_z is {pert.uap_z.shape[-1]} px, the victim's template crop is {z_size} px")
    if x_size is not None:
        if pert.phase == "UAP" and pert.patch_size != x_size:
            raise ValueError(
                f"{path}: the UAP perturbation is {pert.patch_size} px, the victim's search crop {x_size} px"
            )
        if pert.phase != "UAP" and pert.patch_size >= x_size:
            raise ValueError(f"{path}: a {pert.patch_size} px patch does not fit the victim's {x_size} px search crop")
    return pert

"""Test-time attack: a wrapper that turns a SiamFC++ tracker into an attacked one and records the fake ground
truth (FGT) per frame, with the patch placed by the official oracle rule (beside the annotated target) or along
a predefined, video-agnostic trajectory known in advance."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vislite_tracking.attack.perturbation import Perturbation
from vislite_tracking.attack.placement import attack_search_region, crop_to_frame, frame_to_crop
from vislite_tracking.siamfcpp.tracker import SiamFCppTracker

Box = tuple[float, float, float, float]
PLACEMENTS = ("oracle", "trajectory")


def straight_line(first_box: Sequence[float], frames: int, velocity: tuple[float, float] = (1.5, -1.0)) -> np.ndarray:
    """(N, 2) fake-target centres moving from the first box's top-left side at ``velocity`` px per frame."""
    x, y, w, h = (float(v) for v in first_box)
    start = np.array([x - 0.5 * w, y - 0.5 * h])
    return start + np.arange(frames)[:, None] * np.asarray(velocity, dtype=np.float64)


def random_walk(first_box: Sequence[float], frames: int, step: float = 2.0, seed: int = 0) -> np.ndarray:
    """(N, 2) fake-target centres: a seeded random walk of ``step`` px per frame from beside the first box."""
    rng = np.random.default_rng(seed)
    moves = rng.normal(0.0, step, size=(frames, 2))
    moves[0] = 0
    return straight_line(first_box, 1)[0] + np.cumsum(moves, axis=0)


def place_at_centre(
    search: torch.Tensor,
    patch: torch.Tensor,
    centre: Sequence[float],
    target_pos: Sequence[float],
    scale_x: float,
    *,
    x_size: int,
    phase: str,
) -> tuple[torch.Tensor, tuple[int, int, int, int], Box]:
    """Like :func:`attack_search_region` but with the patch centred on a frame point (clamped inside the crop)."""
    size = int(patch.shape[-1])
    height, width = int(search.shape[2]), int(search.shape[3])
    if size >= min(height, width):
        raise ValueError(f"patch: a {size}x{size} patch does not fit in the {height}x{width} search crop")
    x1 = frame_to_crop(float(centre[0]), float(target_pos[0]), scale_x, x_size) - size // 2
    y1 = frame_to_crop(float(centre[1]), float(target_pos[1]), scale_x, x_size) - size // 2
    x1 = min(max(x1, 0), width - 1 - size)
    y1 = min(max(y1, 0), height - 1 - size)
    adv = search.clone()
    if phase == "AP":
        adv[:, :, y1 : y1 + size, x1 : x1 + size] = patch
    else:
        adv[:, :, y1 : y1 + size, x1 : x1 + size] += patch
    fx1, fx2 = (
        crop_to_frame(x1, target_pos[0], scale_x, x_size),
        crop_to_frame(x1 + size, target_pos[0], scale_x, x_size),
    )
    fy1, fy2 = (
        crop_to_frame(y1, target_pos[1], scale_x, x_size),
        crop_to_frame(y1 + size, target_pos[1], scale_x, x_size),
    )
    return adv, (x1, y1, x1 + size, y1 + size), (fx1, fy1, fx2 - fx1 + 1, fy2 - fy1 + 1)


class AttackedTracker:
    """A :class:`SiamFCppTracker` under attack: ``uap_z`` added to its template once, ``patch_x`` put into every
    search crop. ``placement="oracle"`` puts the patch beside ``references[i]`` (the annotated box of frame i,
    :func:`attack_search_region`); ``"trajectory"`` centres it on ``references[i]`` (a predefined fake-target
    centre). ``fgt`` holds the realised fake box (x, y, w, h) per frame, frame 0 being the initial box.
    """

    def __init__(
        self,
        tracker: SiamFCppTracker,
        perturbation: Perturbation,
        references: np.ndarray,
        *,
        placement: str = "oracle",
    ) -> None:
        if placement not in PLACEMENTS:
            raise ValueError(f"placement: expected one of {PLACEMENTS}, got {placement!r}")
        perturbation.check()
        if perturbation.uap_z.shape[-1] != tracker.z_size:
            raise ValueError(
                f"uap_z is {perturbation.uap_z.shape[-1]} px, the tracker's template crop {tracker.z_size} px"
            )
        if perturbation.phase == "UAP" and perturbation.patch_size != tracker.x_size:
            raise ValueError(
                f"the UAP perturbation is {perturbation.patch_size} px, the search crop {tracker.x_size} px"
            )
        self.tracker, self.perturbation, self.placement = tracker, perturbation, placement
        self.references = np.asarray(references, dtype=np.float64)
        self.frame = 0
        self.fgt: list[Box] = []
        device = tracker.device
        self.uap_z = perturbation.uap_z.to(device)
        self.patch_x = perturbation.patch_x.to(device)
        tracker.template_hook = lambda z: z + self.uap_z
        tracker.search_hook = self._perturb_search

    def _perturb_search(self, search: torch.Tensor, target_pos: np.ndarray, scale_x: float) -> torch.Tensor:
        if self.frame >= len(self.references):
            raise IndexError(f"frame {self.frame}: only {len(self.references)} reference boxes / centres were given")
        ref = self.references[self.frame]
        x_size, phase = self.tracker.x_size, self.perturbation.phase
        if self.placement == "oracle" or phase == "UAP":
            adv, _, fgt = attack_search_region(
                search,
                self.patch_x,
                ref[:4] if ref.size >= 4 else (*ref, 1, 1),
                target_pos,
                scale_x,
                x_size=x_size,
                phase=phase,
            )
        else:
            adv, _, fgt = place_at_centre(
                search, self.patch_x, ref[:2], target_pos, scale_x, x_size=x_size, phase=phase
            )
        self.fgt.append(tuple(float(v) for v in fgt))  # type: ignore[arg-type]
        return adv

    def initialize(self, image: np.ndarray, box: Box) -> None:
        self.frame, self.fgt = 0, [tuple(float(v) for v in box)]  # type: ignore[list-item]
        self.tracker.initialize(image, box)

    def track(self, image: np.ndarray) -> Box:
        self.frame += 1
        return self.tracker.track(image)

"""Tracking sequences: a target moving along a smooth random path with scale change and rotation over a slowly
panning photo, a look-alike distractor circling nearby, and an occluder crossing it (guaranteed full occlusion).

``plan_sequence`` draws every random choice up front; ``SequencePlan.render(t)`` is then a pure function of the
frame index. Boxes are the target's in-image extent (amodal: occluded parts included, the part outside the image
excluded), so during full occlusion the box is still where the hidden target is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vislite_common.data.world.backgrounds import random_crop
from vislite_common.data.world.polygons import mask_bbox
from vislite_common.data.world.scene import Look, SceneObject, sample_look, sample_lookalike, visible_masks
from vislite_common.data.world.shapes import Geometry, rasterize
from vislite_common.data.world.textures import Surface, paint
from vislite_common.data.world.vocab import BACKGROUNDS, COLOURS, with_article

FULL_OCCLUSION_MAX_VISIBLE = 0.05  # a target with less than 5 % of its in-image area visible is "fully occluded"
PAN_MARGIN = 1.25  # the background crop is this much larger than the frame, for the camera pan


@dataclass(frozen=True)
class FrameLabel:
    """Ground truth of one frame: box (x, y, w, h) px and the target's visibility flags."""

    box: tuple[float, float, float, float]
    visible_ratio: float  # visible / in-image area of the target
    full_occlusion: bool
    out_of_view: bool
    cut_by_image: bool

    @property
    def cover(self) -> int:
        """GOT-10k cover level 0..8: 0 = fully occluded, else ceil(8 * visible ratio)."""
        if self.full_occlusion or self.out_of_view:
            return 0
        return int(min(8, max(1, int(np.ceil(8 * self.visible_ratio - 1e-9)))))


@dataclass(frozen=True)
class SequencePlan:
    """All random choices of one sequence; ``render(t)`` draws frame ``t`` (0-based)."""

    frame_size: tuple[int, int]  # (W, H)
    num_frames: int
    backdrop: np.ndarray  # (H', W', 3) uint8, larger than the frame
    background: str
    pan: np.ndarray  # (T, 2) int top-left (x, y) of the frame window in ``backdrop``
    target: Look
    distractor: Look
    centers: np.ndarray  # (T, 2) target centre (x, y)
    radii: np.ndarray  # (T,) target circumradius
    angles: np.ndarray  # (T,)
    d_centers: np.ndarray  # (T, 2) distractor centre
    d_radii: np.ndarray  # (T,)
    d_angles: np.ndarray  # (T,)
    distractor_in_front: bool
    occluder: np.ndarray  # (4, 2) rectangle at frame 0 (x, y)
    occluder_velocity: tuple[float, float]  # px per frame
    occluder_surface: Surface
    occlusion_frame: int  # a frame at which the target is fully hidden

    def objects(self, t: int) -> tuple[SceneObject, SceneObject]:
        """(target, distractor) placed at frame ``t``."""
        target = SceneObject(self.target, _xy(self.centers[t]), float(self.radii[t]), float(self.angles[t]))
        d = SceneObject(self.distractor, _xy(self.d_centers[t]), float(self.d_radii[t]), float(self.d_angles[t]))
        return target, d

    def occluder_polygon(self, t: int) -> np.ndarray:
        """(4, 2) occluder rectangle at frame ``t``."""
        return self.occluder + np.asarray(self.occluder_velocity) * t

    def describe(self) -> str:
        """One-line natural-language description of the target (LaSOT ``nlp.txt``)."""
        return (
            f"{with_article(self.target.phrase())} moving in front of {BACKGROUNDS[self.background]}, "
            f"near {with_article(self.distractor.phrase())}"
        )

    def render(self, t: int) -> tuple[np.ndarray, FrameLabel]:
        """Frame ``t`` as ((H, W, 3) uint8 image, its label)."""
        width, height = self.frame_size
        x, y = (int(v) for v in self.pan[t])
        image = self.backdrop[y : y + height, x : x + width].copy()  # (H, W, 3)
        target, distractor = self.objects(t)
        layers = [target, distractor] if self.distractor_in_front else [distractor, target]
        masks = [obj.mask(height, width) for obj in layers]
        for obj, mask in zip(layers, masks):
            paint(image, mask, obj.look.surface, obj.center, obj.radius)
        occ_poly = self.occluder_polygon(t)
        occ_mask = rasterize(Geometry((occ_poly,)), height, width)
        paint(image, occ_mask, self.occluder_surface, _xy(occ_poly.mean(axis=0)), 0.5 * max(width, height))
        visible = visible_masks(np.stack([*masks, occ_mask]))  # (3, H, W)
        k = layers.index(target)
        full_area, seen = int(masks[k].sum()), int(visible[k].sum())
        ratio = seen / full_area if full_area else 0.0
        x0, y0, x1, y1 = target.geometry().bounds()
        label = FrameLabel(
            box=tuple(mask_bbox(masks[k])),  # type: ignore[arg-type]
            visible_ratio=ratio,
            full_occlusion=full_area > 0 and ratio < FULL_OCCLUSION_MAX_VISIBLE,
            out_of_view=full_area == 0,
            cut_by_image=x0 < 0 or y0 < 0 or x1 > width or y1 > height,
        )
        return image, label


def _xy(p: np.ndarray) -> tuple[float, float]:
    return float(p[0]), float(p[1])


def _wave(rng: np.random.Generator, t: np.ndarray, amplitudes: tuple[float, float]) -> np.ndarray:
    """Smooth random signal: sum of two sines with random frequency (< ~1.2 periods per sequence) and phase."""
    out = np.zeros_like(t)
    for amp in amplitudes:
        out += rng.uniform(0.5, 1.0) * amp * np.sin(2 * np.pi * rng.uniform(0.25, 1.2) * t + rng.uniform(0, 2 * np.pi))
    return out


def plan_sequence(
    rng: np.random.Generator, shape: str, frame_size: tuple[int, int] = (160, 120), num_frames: int = 40
) -> SequencePlan:
    """Draw a sequence of ``num_frames`` frames of ``frame_size`` = (W, H) whose target is a ``shape``."""
    width, height = frame_size
    side = min(width, height)
    t = np.arange(num_frames, dtype=np.float64)
    u = t / max(num_frames - 1, 1)  # (T,) 0..1
    # Background: a crop larger than the frame, panned linearly.
    big = (int(round(width * PAN_MARGIN)), int(round(height * PAN_MARGIN)))
    backdrop, photo = random_crop(rng, big, scale=(0.45, 1.0))
    start = rng.uniform(0, 1, 2) * [big[0] - width, big[1] - height]
    end = rng.uniform(0, 1, 2) * [big[0] - width, big[1] - height]
    pan = np.round(start[None] + (end - start)[None] * u[:, None]).astype(np.int64)  # (T, 2)
    # Target: smooth path, scale change, slow rotation.
    target = sample_look(rng, shape=shape)
    r0 = rng.uniform(0.09, 0.15) * side
    radii = r0 * np.exp(rng.uniform(0.2, 0.4) * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * u + rng.uniform(0, 6.3)))
    cx = rng.uniform(0.4, 0.6) * width + _wave(rng, u, (0.2 * width, 0.05 * width))
    cy = rng.uniform(0.4, 0.6) * height + _wave(rng, u, (0.2 * height, 0.05 * height))
    margin = 0.4 * radii  # keep the centre inside, so at most about half of the target leaves the image
    centers = np.stack([np.clip(cx, margin, width - margin), np.clip(cy, margin, height - margin)], 1)  # (T, 2)
    angles = rng.uniform(0, 2 * np.pi) + rng.uniform(-0.06, 0.06) * t
    # Look-alike distractor circling the target.
    distractor = sample_lookalike(rng, target)
    d_radii = radii * rng.uniform(0.8, 1.2)
    theta = rng.uniform(0, 2 * np.pi) + rng.choice([-1.0, 1.0]) * rng.uniform(0.05, 0.15) * t
    dist = r0 * (2.2 + 0.8 * np.sin(2 * np.pi * rng.uniform(0.5, 1.5) * u + rng.uniform(0, 6.3)))
    d_centers = centers + dist[:, None] * np.stack([np.cos(theta), np.sin(theta)], 1)
    d_centers = np.stack([np.clip(d_centers[:, 0], 0, width), np.clip(d_centers[:, 1], 0, height)], 1)
    d_angles = rng.uniform(0, 2 * np.pi) + rng.uniform(-0.06, 0.06) * t
    in_front = bool(rng.random() < 0.35)
    # Occluder: a rectangle that covers the target's whole in-image extent at ``t_occ`` and crosses it.
    t_occ = int(rng.integers(int(0.3 * num_frames), max(int(0.7 * num_frames), int(0.3 * num_frames) + 1)))
    target_at = SceneObject(target, _xy(centers[t_occ]), float(radii[t_occ]), float(angles[t_occ]))
    x0, y0, x1, y1 = target_at.geometry().bounds()
    x0, y0, x1, y1 = max(x0, 0.0) - 3, max(y0, 0.0) - 3, min(x1, width) + 3, min(y1, height) + 3
    speed = rng.uniform(1.5, 3.5)
    kind = int(rng.integers(3))
    if kind == 0:  # vertical pole moving sideways
        y0, y1, velocity = -2.0, height + 2.0, (speed * rng.choice([-1.0, 1.0]), 0.0)
    elif kind == 1:  # horizontal beam moving up or down
        x0, x1, velocity = -2.0, width + 2.0, (0.0, speed * rng.choice([-1.0, 1.0]))
    else:  # board moving diagonally
        direction = rng.uniform(0, 2 * np.pi)
        velocity = (speed * np.cos(direction), speed * np.sin(direction))
    rect = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
    occluder = rect - np.asarray(velocity) * t_occ  # position at frame 0
    names = tuple(COLOURS)
    occ_rgb = tuple(int(c) for c in np.asarray(COLOURS[names[int(rng.integers(len(names)))]]) * 0.6 + 40)
    occ_texture = ("plain", "brick", "gravel")[int(rng.integers(3))]
    return SequencePlan(
        frame_size=(width, height),
        num_frames=num_frames,
        backdrop=backdrop,
        background=photo,
        pan=pan,
        target=target,
        distractor=distractor,
        centers=centers,
        radii=radii,
        angles=angles,
        d_centers=d_centers,
        d_radii=d_radii,
        d_angles=d_angles,
        distractor_in_front=in_front,
        occluder=occluder,
        occluder_velocity=(float(velocity[0]), float(velocity[1])),
        occluder_surface=Surface.sample(rng, occ_rgb, occ_texture),  # type: ignore[arg-type]
        occlusion_frame=t_occ,
    )


def check_frame_size(frame_size: tuple[int, int]) -> tuple[int, int]:
    """Validate (W, H) and return it as ints."""
    if len(frame_size) != 2 or min(int(v) for v in frame_size) < 32:
        raise ValueError(f"frame_size must be (W, H) with both >= 32 px, got {frame_size}")
    return int(frame_size[0]), int(frame_size[1])

"""Training pairs of the reference sampler: a template frame, a later search frame, crops and targets.

``TrackingPairs`` draws, for each item, a dataset (by weight, 1:1:1:1 in the recipe), a sequence with enough
visible frames, then in OSTrack's ``causal`` mode a visible template frame and a visible search frame after it
within ``max_gap`` frames (the gap grows by 5 until one exists). One-frame sequences (COCO objects) give static
pairs. Crops: template ``template_factor`` x the box (no jitter), search ``search_factor`` x the jittered box.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence as SequenceType
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from vislite_tracking.data.frames import read_frame
from vislite_tracking.data.processing import box_to_crop, crop_side, jitter_box, sample_target
from vislite_tracking.data.sequence import Sequence
from vislite_tracking.data.transforms import PairAugmentation, normalise

MAX_ATTEMPTS = 100  # draws before giving up on a sample (every draw failing means unusable data)


class SequenceSource(Protocol):
    """A dataset of sequences: ``len`` and ``as_sequence(i)`` (a list of ``Sequence`` is adapted by ``ListSource``)."""

    def __len__(self) -> int: ...

    def as_sequence(self, index: int) -> Sequence: ...


@dataclass(frozen=True)
class ListSource:
    """Sequences held in a list."""

    sequences: list[Sequence]

    def __len__(self) -> int:
        return len(self.sequences)

    def as_sequence(self, index: int) -> Sequence:
        return self.sequences[index]


@dataclass(frozen=True)
class CropSettings:
    """Crop sizes (px), area factors and the search box jitter of the recipe."""

    template_size: int = 128
    search_size: int = 256
    template_factor: float = 2.0
    search_factor: float = 4.0
    centre_jitter: float = 3.0
    scale_jitter: float = 0.25
    stride: int = 16  # patch size: a crop whose every token is padding is rejected


def sample_frame_ids(visible: np.ndarray, max_gap: int, rng: np.random.Generator) -> tuple[int, int] | None:
    """(template, search) frame indices, template first, search within ``max_gap`` after it, both visible.

    As OSTrack's causal mode with one template and one search frame: the template is drawn among visible frames
    ``0 .. N-2``; the search among visible frames ``t+1 .. t+max_gap+g-1``, ``g`` growing by 5 until one exists.
    """
    n = len(visible)
    if n == 1:
        return (0, 0) if visible[0] else None
    candidates = np.flatnonzero(visible[: n - 1])
    if candidates.size == 0:
        return None
    grow = 0
    while True:
        template = int(rng.choice(candidates))
        ahead = np.flatnonzero(visible[template + 1 : template + max_gap + grow]) + template + 1
        if ahead.size:
            return template, int(rng.choice(ahead))
        grow += 5
        if grow > n:  # every window already spans the whole sequence
            return None


def _usable(sequence: Sequence, min_frames: int) -> bool:
    """Video sequences need more than 4 visible frames and ``min_frames`` frames (the reference's check)."""
    return len(sequence) == 1 or (int(sequence.visible.sum()) > 4 and len(sequence) >= min_frames)


class TrackingPairs(Dataset):
    """``samples_per_epoch`` random (template, search) pairs; item ``i`` (or ``(i, seed)``) is reproducible.

    Each item is a dict: ``template`` ``[3, Hz, Wz]`` and ``search`` ``[3, Hx, Wx]`` normalised crops,
    ``search_box`` / ``template_box`` ``[4]`` x, y, w, h normalised to their crop.

    Args:
        sources: the datasets (lists of sequences or sources with ``as_sequence``).
        weights: relative sampling weight of each source (default equal).
        samples_per_epoch: items per epoch.
        max_gap: largest template-to-search frame gap.
        crops: crop sizes, factors and jitter.
        augmentation: photometric / flip augmentation (validation: ``PairAugmentation.joint_only()``); ``None``
            for none.
        min_frames: shortest usable video sequence.
        seed: base seed of items requested without one (validation: the same pairs every epoch).
        frame_reader: image file -> (H, W, 3) uint8 RGB.
    """

    accepts_seeded_index = True

    def __init__(
        self,
        *,
        sources: SequenceType[SequenceSource | list[Sequence]],
        weights: SequenceType[float] | None = None,
        samples_per_epoch: int = 60000,
        max_gap: int = 200,
        crops: CropSettings | None = None,
        augmentation: PairAugmentation | None = None,
        min_frames: int = 20,
        seed: int = 0,
        frame_reader: Callable[[object], np.ndarray] = read_frame,
    ) -> None:
        if not sources:
            raise ValueError("TrackingPairs needs at least one source of sequences")
        self.sources = [ListSource(list(s)) if isinstance(s, list) else s for s in sources]
        weights = [1.0] * len(self.sources) if weights is None else [float(w) for w in weights]
        if len(weights) != len(self.sources) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"weights {weights} must be {len(self.sources)} non-negative numbers, not all zero")
        self.probabilities = np.asarray(weights) / sum(weights)
        self.usable = [self._usable_indices(i, s, min_frames) for i, s in enumerate(self.sources)]
        self.samples_per_epoch, self.max_gap = int(samples_per_epoch), int(max_gap)
        self.crops = crops or CropSettings()
        self.augmentation, self.seed, self.read = augmentation, int(seed), frame_reader

    @staticmethod
    def _usable_indices(position: int, source: SequenceSource, min_frames: int) -> np.ndarray:
        if isinstance(source, ListSource):
            usable = np.array([i for i, s in enumerate(source.sequences) if _usable(s, min_frames)], dtype=np.int64)
            if usable.size == 0:
                raise ValueError(
                    f"source #{position} has no sequence with > 4 visible frames and >= {min_frames} "
                    f"frames (of {len(source)} sequences)"
                )
            return usable
        return np.arange(len(source))

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = (int(item[0]), int(item[1])) if isinstance(item, (tuple, list)) else (int(item), None)
        rng = np.random.default_rng([self.seed, index] if seed is None else [seed])
        for _ in range(MAX_ATTEMPTS):
            sample = self._draw(rng)
            if sample is not None:
                return sample
        raise RuntimeError(f"no valid training pair after {MAX_ATTEMPTS} draws (item {index}): are the boxes empty?")

    def _draw(self, rng: np.random.Generator) -> dict[str, torch.Tensor] | None:
        """One attempt; ``None`` when the draw is unusable (no frames, degenerate box, crop all padding)."""
        source_id = int(rng.choice(len(self.sources), p=self.probabilities))
        sequence = self.sources[source_id].as_sequence(int(rng.choice(self.usable[source_id])))
        ids = sample_frame_ids(sequence.visible, self.max_gap, rng)
        if ids is None:
            return None
        boxes = [sequence.boxes[i].astype(np.float64) for i in ids]
        if not all(np.isfinite(b).all() and b[2] > 0 and b[3] > 0 for b in boxes):
            return None
        frames = [self.read(sequence.frames[i]) for i in ids]
        if self.augmentation is not None:
            frames, boxes = self.augmentation.joint(frames, boxes, rng)
        c = self.crops
        template = self._crop(frames[0], boxes[0], c.template_factor, c.template_size, 0.0, 0.0, rng)
        search = self._crop(frames[1], boxes[1], c.search_factor, c.search_size, c.centre_jitter, c.scale_jitter, rng)
        if template is None or search is None:
            return None
        return {"template": template[0], "template_box": template[1], "search": search[0], "search_box": search[1]}

    def _crop(
        self,
        frame: np.ndarray,
        box: np.ndarray,
        factor: float,
        size: int,
        centre_jitter: float,
        scale_jitter: float,
        rng: np.random.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Jittered crop, its normalised box, augmentation; ``None`` for a degenerate crop (reference: invalid)."""
        jittered = jitter_box(box, centre_jitter=centre_jitter, scale_jitter=scale_jitter, rng=rng)
        if crop_side(jittered, factor) < 1:
            return None
        crop = sample_target(frame, jittered, factor, size)
        stride = self.crops.stride
        if crop.padding.all() or crop.padding[::stride, ::stride].all():
            return None
        target = box_to_crop(box, jittered, crop.resize_factor, size)
        if self.augmentation is not None:
            image, target = self.augmentation.crop(crop.image, target, rng)
        else:
            image = normalise(crop.image)
        return image, torch.as_tensor(target, dtype=torch.float32)

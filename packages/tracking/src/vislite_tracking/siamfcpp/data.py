"""SiamFC++ training pairs (video_analyst ``crop_track_pair``): raw BGR 0-255 template / search crops with the
search crop randomly scaled and shifted, and the search target as an xyxy box in crop pixels."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vislite_tracking.data.datamodule import TrackingDataModule, WorldTrackingDataModule, open_source
from vislite_tracking.data.sampler import TrackingPairs, sample_frame_ids
from vislite_tracking.siamfcpp.crop import crop_side, subwindow


class SiamFCppPairs(TrackingPairs):
    """Items ``{"im_z": (3, z, z), "im_x": (3, x, x)`` float32 BGR 0-255, ``"box_x": (4,)`` xyxy in the search
    crop``}``; the search crop's scale is divided by U(1 / (1 + max_scale), 1 + max_scale) and its centre moved
    by U(-max_shift, max_shift) x half the crop side (video_analyst's 0.3 / 0.4); the template is not jittered.
    Sequences, frame gaps and the joint grayscale / flip augmentation are :class:`TrackingPairs`'.
    """

    def __init__(
        self,
        *,
        z_size: int = 127,
        x_size: int = 303,
        max_scale: float = 0.3,
        max_shift: float = 0.4,
        context: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.z_size, self.x_size = int(z_size), int(x_size)
        self.max_scale, self.max_shift, self.context = float(max_scale), float(max_shift), float(context)

    def _draw(self, rng: np.random.Generator) -> dict[str, torch.Tensor] | None:
        source_id = int(rng.choice(len(self.sources), p=self.probabilities))
        sequence = self.sources[source_id].as_sequence(int(rng.choice(self.usable[source_id])))
        ids = sample_frame_ids(sequence.visible, self.max_gap, rng)
        if ids is None:
            return None
        boxes = [sequence.boxes[i].astype(np.float64) for i in ids]
        if not all(np.isfinite(b).all() and b[2] > 1 and b[3] > 1 for b in boxes):
            return None
        frames = [self.read(sequence.frames[i]) for i in ids]
        if self.augmentation is not None:
            frames, boxes = self.augmentation.joint(frames, boxes, rng)
        frames = [np.ascontiguousarray(f[..., ::-1]) for f in frames]  # RGB -> BGR
        fill = frames[0].mean(axis=(0, 1))
        (xt, yt, wt, ht), (xc, yc, wc, hc) = boxes
        centre_t = np.array([xt + (wt - 1) / 2, yt + (ht - 1) / 2])
        centre_c = np.array([xc + (wc - 1) / 2, yc + (hc - 1) / 2])
        scale_t = self.z_size / crop_side(np.array([wt, ht]), self.context)
        top = 1 + self.max_scale
        scale_c = self.z_size / crop_side(np.array([wc, hc]), self.context) / rng.uniform(1 / top, top)
        side_c = self.x_size / scale_c
        shift = rng.uniform(-self.max_shift, self.max_shift, size=2) * side_c / 2
        im_z = subwindow(frames[0], centre_t, self.z_size, self.z_size / scale_t, fill)
        im_x = subwindow(frames[1], centre_c - shift, self.x_size, side_c, fill)
        cx, cy = (self.x_size - 1) / 2 + shift * scale_c
        w, h = wc * scale_c, hc * scale_c
        box_x = np.array([cx - (w - 1) / 2, cy - (h - 1) / 2, cx + (w - 1) / 2, cy + (h - 1) / 2])
        return {
            "im_z": torch.from_numpy(np.ascontiguousarray(im_z.transpose(2, 0, 1), dtype=np.float32)),
            "im_x": torch.from_numpy(np.ascontiguousarray(im_x.transpose(2, 0, 1), dtype=np.float32)),
            "box_x": torch.as_tensor(box_x, dtype=torch.float32),
        }


class SiamFCppPairsMixin:
    """Replaces a tracking datamodule's pairs by :class:`SiamFCppPairs` (crop sizes and jitter in ``self.siam``)."""

    siam: dict[str, Any]

    def _pairs(self, specs: list, what: str, samples: int, train: bool) -> TrackingPairs:
        opened = [open_source(spec, f"{what}[{i}]") for i, spec in enumerate(specs)]
        siam = self.siam if train else {**self.siam, "max_scale": 0.0, "max_shift": 0.0}
        return SiamFCppPairs(
            sources=[s for s, _ in opened],
            weights=[w for _, w in opened],
            samples_per_epoch=samples,
            max_gap=self.max_gap,  # type: ignore[attr-defined]
            augmentation=self.augmentation if train else None,  # type: ignore[attr-defined]
            min_frames=self.min_frames,  # type: ignore[attr-defined]
            seed=self.seed,  # type: ignore[attr-defined]
            **siam,
        )


class SiamFCppDataModule(SiamFCppPairsMixin, TrackingDataModule):
    """:class:`TrackingDataModule` (any dataset mix) serving SiamFC++ pairs; validation pairs are not jittered."""

    def __init__(
        self, *, z_size: int = 127, x_size: int = 303, max_scale: float = 0.3, max_shift: float = 0.4, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.siam = dict(z_size=z_size, x_size=x_size, max_scale=max_scale, max_shift=max_shift)


class WorldSiamFCppDataModule(SiamFCppPairsMixin, WorldTrackingDataModule):
    """The embedded tracking world as SiamFC++ pairs (training from its LaSOT + GOT-10k train sequences,
    validation from GOT-10k val, not jittered)."""

    def __init__(
        self, *, z_size: int = 127, x_size: int = 303, max_scale: float = 0.3, max_shift: float = 0.4, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.siam = dict(z_size=z_size, x_size=x_size, max_scale=max_scale, max_shift=max_shift)

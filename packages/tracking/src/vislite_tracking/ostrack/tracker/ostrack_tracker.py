"""The inference tracker (OSTrack's ``lib/test/tracker/ostrack.py``): template once, then search crop per frame."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import cv2
import numpy as np
import torch

from vislite_tracking.data.processing import Crop, clip_box, crop_box_to_frame, sample_target
from vislite_tracking.ostrack.model.elimination import template_centre_mask
from vislite_tracking.ostrack.model.ostrack import OSTrack
from vislite_tracking.ostrack.tracker.folded_head import FoldedCenterHead

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


# (x / 255 - mean) / std for every uint8 value x, as a cv2.LUT table (1, 256, 3): the same fp32 operations as
# the reference's per-pixel computation, so the lookup returns bitwise the same values in one pass
_LUT = ((torch.arange(256, dtype=torch.float32).view(256, 1) / 255.0 - MEAN.view(1, 3)) / STD.view(1, 3)).numpy()
_LUT = np.ascontiguousarray(_LUT).reshape(1, 256, 3)


def preprocess(patch: np.ndarray) -> torch.Tensor:
    """(S, S, 3) uint8 RGB crop -> ``[1, 3, S, S]``: ``(x / 255 - mean) / std`` (the reference's ``Preprocessor``)."""
    if patch.dtype != np.uint8 or patch.ndim != 3 or patch.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB crop, got {patch.dtype} {patch.shape}")
    normalised = cv2.LUT(np.ascontiguousarray(patch), _LUT)  # (S, S, 3) float32
    return torch.from_numpy(normalised).permute(2, 0, 1).unsqueeze(0).contiguous()  # [1, 3, S, S]


def hann1d(size: int) -> torch.Tensor:
    """Centred Hann window of ``size`` points, ``0.5 * (1 - cos(2 pi k / (size + 1)))``, k = 1..size."""
    k = torch.arange(1, size + 1, dtype=torch.float32)
    return 0.5 * (1 - torch.cos((2 * math.pi / (size + 1)) * k))


def hann2d(size: int) -> torch.Tensor:
    """``[1, 1, size, size]`` outer product of :func:`hann1d` with itself."""
    w = hann1d(size)
    return (w.view(-1, 1) * w.view(1, -1)).view(1, 1, size, size)


def check_initial_box(box: np.ndarray | list[float]) -> np.ndarray:
    """The first frame's box as a float64 (4,) array; ``ValueError`` unless it is finite with w, h > 0."""
    box = np.asarray(box, dtype=np.float64)
    if box.shape != (4,) or not np.isfinite(box).all() or box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"initial box must be finite x, y, w, h with w, h > 0, got {box.tolist()}")
    return box


def box_in_frame(
    box: torch.Tensor | np.ndarray,
    crop: Crop,
    prev_box: np.ndarray,
    crop_size: int,
    frame_shape: tuple[int, ...],
    margin: float,
) -> np.ndarray:
    """The tracker's post-processing after decoding: a box (cx, cy, w, h) normalised to the search crop cut
    around ``prev_box``, mapped back to the frame (:func:`crop_box_to_frame`) and clipped to it
    (:func:`clip_box`, at least ``margin`` px inside); returns x, y, w, h in frame pixels."""
    pred = np.asarray(box, dtype=np.float64) * crop_size  # cx, cy, w, h in crop pixels
    frame_box = crop_box_to_frame(pred, prev_box, crop.resize_factor, crop_size)
    return clip_box(frame_box, frame_shape[0], frame_shape[1], margin)


class CropTracker(ABC):
    """The per-frame loop shared by the inference backends: a template crop (``template_factor`` x the first
    box) once, then each frame a search crop (``search_factor`` x the previous box), normalised by
    :func:`preprocess`, located by the backend, mapped back and clipped by :func:`box_in_frame`.

    Subclasses set ``template_size`` / ``search_size`` and implement :meth:`_prepare_template` (normalised
    template crop ``[1, 3, Sz, Sz]`` -> whatever :meth:`_locate` needs) and :meth:`_locate` (template and
    normalised search crop ``[1, 3, Sx, Sx]`` -> the box (cx, cy, w, h) normalised to the crop, at the peak of
    the Hann-windowed score map).
    """

    template_size: int
    search_size: int

    def __init__(self, *, template_factor: float, search_factor: float, margin: float) -> None:
        self.template_factor, self.search_factor, self.margin = template_factor, search_factor, margin
        self.template: object | None = None
        self.state: np.ndarray | None = None

    @abstractmethod
    def _prepare_template(self, template: torch.Tensor) -> object:
        """What :meth:`_locate` needs of the normalised template crop (e.g. the tensor itself)."""

    @abstractmethod
    def _locate(self, template: object, search: torch.Tensor) -> torch.Tensor | np.ndarray:
        """The box (cx, cy, w, h) normalised to the search crop."""

    def initialize(self, image: np.ndarray, box: np.ndarray | list[float]) -> None:
        """Crop and keep the template around ``box`` (x, y, w, h) in the first frame."""
        box = check_initial_box(box)
        crop = sample_target(image, box, self.template_factor, self.template_size)
        self.template = self._prepare_template(preprocess(crop.image))
        self.state = box

    def track(self, image: np.ndarray) -> np.ndarray:
        """The target's box (x, y, w, h) in ``image``."""
        if self.template is None or self.state is None:
            raise RuntimeError("call initialize(first_frame, box) before track()")
        size = self.search_size
        crop = sample_target(image, self.state, self.search_factor, size)
        box = self._locate(self.template, preprocess(crop.image))
        self.state = box_in_frame(box, crop, self.state, size, image.shape, self.margin)
        return self.state.copy()


class OSTracker(CropTracker):
    """Single-object tracker: ``initialize(image, box_xywh)`` then ``track(image) -> box_xywh`` per frame.

    The template (``template_factor`` x the first box) is cropped once and never updated; its patch tokens are
    embedded once (they depend on nothing else; the blocks mix them with each frame's search tokens). Each
    frame: a crop of ``search_factor`` x the previous box, the network, the score map multiplied by a Hann
    window, the box at its peak mapped back to the frame and clipped to it (at least ``margin`` px inside).
    Images are H x W x 3 uint8 RGB; boxes x, y, w, h in pixels. Runs in fp32, batch 1, under ``torch.inference_mode``.

    ``fast`` (default) runs the inference-only path, equal to the network's up to float rounding: the head's
    BatchNorms folded into its convolutions (refolded at every :meth:`initialize`, from the weights then),
    offset / size computed on the best cell's receptive field only, and the last block computing the search
    tokens only. ``fast=False`` runs the network's own modules (:meth:`CenterHead.predict`).
    """

    def __init__(
        self,
        *,
        network: OSTrack,
        template_factor: float = 2.0,
        search_factor: float = 4.0,
        margin: float = 10.0,
        threads: int | None = None,
        fast: bool = True,
    ) -> None:
        super().__init__(template_factor=template_factor, search_factor=search_factor, margin=margin)
        self.network = network.eval()
        self.template_size, self.search_size = network.template_size, network.search_size
        self.fast = fast
        self.folded_head: FoldedCenterHead | None = None
        self.threads = threads
        self.window = hann2d(network.feat_size)
        self.template_mask = template_centre_mask(1, network.backbone.template_grid)
        self.template: torch.Tensor | None = None  # template tokens [1, Lz, C]

    @torch.inference_mode()
    def _prepare_template(self, template: torch.Tensor) -> torch.Tensor:
        self.folded_head = FoldedCenterHead(head=self.network.box_head) if self.fast else None
        return self.network.backbone.embed_template(template)  # [1, Lz, C], once

    @torch.inference_mode()
    def _locate(self, template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        net = self.network
        tokens = net.backbone.forward_tokens(
            template, search, template_mask=self.template_mask, search_only_tail=self.fast
        )  # [1, Ls, C]
        grid = net.feat_size
        features = tokens.transpose(1, 2).reshape(1, -1, grid, grid)  # [1, C, g, g]
        head = self.folded_head if self.folded_head is not None else net.box_head
        boxes, _ = head.predict(features, self.window)
        return boxes[0]

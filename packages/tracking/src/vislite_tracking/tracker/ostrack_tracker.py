"""The inference tracker (OSTrack's ``lib/test/tracker/ostrack.py``): template once, then search crop per frame."""

from __future__ import annotations

import math

import numpy as np
import torch

from vislite_tracking.data.processing import clip_box, crop_box_to_frame, sample_target
from vislite_tracking.model.elimination import template_centre_mask
from vislite_tracking.model.ostrack import OSTrack

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def preprocess(patch: np.ndarray) -> torch.Tensor:
    """(S, S, 3) uint8 RGB crop -> ``[1, 3, S, S]``: ``(x / 255 - mean) / std`` (the reference's ``Preprocessor``)."""
    tensor = torch.from_numpy(patch).float().permute(2, 0, 1).unsqueeze(0)  # [1, 3, S, S]
    return (tensor / 255.0 - MEAN) / STD


def hann1d(size: int) -> torch.Tensor:
    """Centred Hann window of ``size`` points, ``0.5 * (1 - cos(2 pi k / (size + 1)))``, k = 1..size."""
    k = torch.arange(1, size + 1, dtype=torch.float32)
    return 0.5 * (1 - torch.cos((2 * math.pi / (size + 1)) * k))


def hann2d(size: int) -> torch.Tensor:
    """``[1, 1, size, size]`` outer product of :func:`hann1d` with itself."""
    w = hann1d(size)
    return (w.view(-1, 1) * w.view(1, -1)).view(1, 1, size, size)


class OSTracker:
    """Single-object tracker: ``initialize(image, box_xywh)`` then ``track(image) -> box_xywh`` per frame.

    The template (``template_factor`` x the first box) is cropped once and never updated; its patch tokens are
    embedded once (they depend on nothing else; the blocks mix them with each frame's search tokens). Each
    frame: a crop of ``search_factor`` x the previous box, the network, the score map multiplied by a Hann
    window, the box at its peak mapped back to the frame and clipped to it (at least ``margin`` px inside).
    Images are H x W x 3 uint8 RGB; boxes x, y, w, h in pixels. Runs in fp32, batch 1, under ``torch.inference_mode``.
    """

    def __init__(
        self,
        *,
        network: OSTrack,
        template_factor: float = 2.0,
        search_factor: float = 4.0,
        margin: float = 10.0,
        threads: int | None = None,
    ) -> None:
        self.network = network.eval()
        self.template_factor, self.search_factor, self.margin = template_factor, search_factor, margin
        self.threads = threads
        self.window = hann2d(network.feat_size)
        self.template_mask = template_centre_mask(1, network.backbone.template_grid)
        self.template: torch.Tensor | None = None  # template tokens [1, Lz, C]
        self.state: np.ndarray | None = None

    def initialize(self, image: np.ndarray, box: np.ndarray | list[float]) -> None:
        """Crop and keep the template around ``box`` (x, y, w, h) in the first frame."""
        box = np.asarray(box, dtype=np.float64)
        if box.shape != (4,) or not np.isfinite(box).all() or box[2] <= 0 or box[3] <= 0:
            raise ValueError(f"initial box must be finite x, y, w, h with w, h > 0, got {box.tolist()}")
        crop = sample_target(image, box, self.template_factor, self.network.template_size)
        with torch.inference_mode():
            self.template = self.network.backbone.embed_template(preprocess(crop.image))  # [1, Lz, C], once
        self.state = box

    @torch.inference_mode()
    def track(self, image: np.ndarray) -> np.ndarray:
        """The target's box (x, y, w, h) in ``image``."""
        if self.template is None or self.state is None:
            raise RuntimeError("call initialize(first_frame, box) before track()")
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        size = self.network.search_size
        crop = sample_target(image, self.state, self.search_factor, size)
        search = preprocess(crop.image)
        net = self.network
        tokens = net.backbone.forward_tokens(self.template, search, template_mask=self.template_mask)  # [1, Ls, C]
        grid = net.feat_size
        features = tokens.transpose(1, 2).reshape(1, -1, grid, grid)  # [1, C, g, g]
        boxes, _ = net.box_head.predict(features, self.window)
        pred = boxes[0].numpy().astype(np.float64) * size  # cx, cy, w, h in crop pixels
        frame_box = crop_box_to_frame(pred, self.state, crop.resize_factor, size)
        self.state = clip_box(frame_box, image.shape[0], image.shape[1], self.margin)
        return self.state.copy()

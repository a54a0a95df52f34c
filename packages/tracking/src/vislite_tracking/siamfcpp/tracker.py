"""The SiamFC++ tracker with video_analyst's post-processing (``SiamFCppTracker``): a template crop once, then each
frame a search crop around the previous box, scale / ratio penalty, cosine window, damped size update."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from vislite_tracking.siamfcpp.crop import get_crop
from vislite_tracking.siamfcpp.model import SiamFCpp

Box = tuple[float, float, float, float]
SearchHook = Callable[[torch.Tensor, np.ndarray, float], torch.Tensor]


def to_bgr_tensor(crop: np.ndarray) -> torch.Tensor:
    """(S, S, 3) BGR crop -> (1, 3, S, S) float32, raw 0-255."""
    return torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)[None], dtype=np.float32))


def change(r: np.ndarray) -> np.ndarray:
    """``max(r, 1 / r)``."""
    return np.maximum(r, 1.0 / r)


def padded_size(w: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``sqrt((w + p) (h + p))`` with ``p = (w + h) / 2``."""
    pad = (w + h) * 0.5
    return np.sqrt((w + pad) * (h + pad))


class SiamFCppTracker:
    """:class:`~vislite_tracking.eval.protocol.Tracker` around a :class:`SiamFCpp` network (RGB uint8 frames in,
    x, y, w, h boxes out; the network sees BGR 0-255 crops).

    ``template_hook(z)`` and ``search_hook(x, target_pos, scale_x)`` (``None`` by default) may replace the
    template / search crop tensors: the attack uses them.
    """

    def __init__(
        self,
        network: SiamFCpp,
        *,
        window_influence: float = 0.21,
        penalty_k: float = 0.04,
        test_lr: float = 0.52,
        context: float = 0.5,
        min_wh: float = 10.0,
        device: str | torch.device = "cpu",
    ) -> None:
        self.network = network.eval().to(device)
        self.device = torch.device(device)
        self.window_influence, self.penalty_k, self.test_lr = window_influence, penalty_k, test_lr
        self.context, self.min_wh = context, min_wh
        self.z_size, self.x_size = network.z_size, network.x_size
        self.template_hook: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.search_hook: SearchHook | None = None
        self.state: dict = {}

    def initialize(self, image: np.ndarray, box: Box) -> None:
        """Cut the template around ``box`` (x, y, w, h) in the first frame."""
        x, y, w, h = (float(v) for v in box)
        if not np.isfinite([x, y, w, h]).all() or w <= 0 or h <= 0:
            raise ValueError(f"initial box must be finite x, y, w, h with w, h > 0, got {[x, y, w, h]}")
        frame = np.ascontiguousarray(image[..., ::-1])  # RGB -> BGR
        pos = np.array([x + (w - 1) / 2, y + (h - 1) / 2])
        size = np.array([w, h])
        fill = frame.mean(axis=(0, 1))
        crop, _ = get_crop(frame, pos, size, self.z_size, fill=fill, context=self.context)
        z = to_bgr_tensor(crop).to(self.device)
        if self.template_hook is not None:
            z = self.template_hook(z)
        with torch.no_grad():
            kernels = self.network.template_kernels(z)
        self.state = dict(pos=pos, size=size, fill=fill, kernels=kernels, frame_hw=frame.shape[:2], window=None)

    def track(self, image: np.ndarray) -> Box:
        """The box in the next frame."""
        if not self.state:
            raise RuntimeError("SiamFCppTracker.track() called before initialize()")
        frame = np.ascontiguousarray(image[..., ::-1])
        pos, size = self.state["pos"], self.state["size"]
        crop, scale = get_crop(frame, pos, size, self.z_size, self.x_size, self.state["fill"], self.context)
        x = to_bgr_tensor(crop).to(self.device)
        if self.search_hook is not None:
            x = self.search_hook(x, pos, scale)
        with torch.no_grad():
            cls, ctr, boxes = self.network.track(x, self.state["kernels"])
        score = (torch.sigmoid(cls) * torch.sigmoid(ctr))[0, :, 0].double().cpu().numpy()  # (S²,)
        boxes = boxes[0].double().cpu().numpy()  # (S², 4) xyxy in the crop
        pos, size = self.postprocess(score, boxes, pos, size, scale)
        self.state["pos"], self.state["size"] = pos, size
        return (pos[0] - (size[0] - 1) / 2, pos[1] - (size[1] - 1) / 2, size[0], size[1])

    def postprocess(
        self, score: np.ndarray, boxes: np.ndarray, pos: np.ndarray, size: np.ndarray, scale: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """video_analyst's choice of the best box and its damped update; returns the clipped (pos, size)."""
        cxywh = np.stack(
            [
                (boxes[:, 0] + boxes[:, 2]) / 2,
                (boxes[:, 1] + boxes[:, 3]) / 2,
                boxes[:, 2] - boxes[:, 0] + 1,
                boxes[:, 3] - boxes[:, 1] + 1,
            ],
            axis=1,
        )
        side = int(round(len(score) ** 0.5))
        if self.state.get("window") is None or len(self.state["window"]) != len(score):
            self.state["window"] = np.outer(np.hanning(side), np.hanning(side)).reshape(-1)
        target_in_crop = size * scale
        scale_change = change(padded_size(cxywh[:, 2], cxywh[:, 3]) / padded_size(*target_in_crop))
        ratio_change = change((target_in_crop[0] / target_in_crop[1]) / (cxywh[:, 2] / cxywh[:, 3]))
        penalty = np.exp(-(ratio_change * scale_change - 1) * self.penalty_k)
        pscore = penalty * score * (1 - self.window_influence) + self.state["window"] * self.window_influence
        best = int(np.argmax(pscore))
        pred = cxywh[best] / np.float32(scale)
        lr = penalty[best] * score[best] * self.test_lr
        new_pos = np.array(
            [pred[0] + pos[0] - (self.x_size // 2) / scale, pred[1] + pos[1] - (self.x_size // 2) / scale]
        )
        new_size = np.array([size[0] * (1 - lr) + pred[2] * lr, size[1] * (1 - lr) + pred[3] * lr])
        height, width = self.state["frame_hw"]
        new_pos = np.array([max(0.0, min(width, new_pos[0])), max(0.0, min(height, new_pos[1]))])
        new_size = np.array([max(self.min_wh, min(width, new_size[0])), max(self.min_wh, min(height, new_size[1]))])
        self.state["last"] = dict(scale=scale, best=best, pscore=float(pscore[best]))
        return new_pos, new_size

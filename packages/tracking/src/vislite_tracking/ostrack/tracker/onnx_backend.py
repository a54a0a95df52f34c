"""ONNX Runtime inference backend: the tracker network exported to ONNX and run in an ONNX Runtime session.

:func:`export_onnx` writes the network as a graph with inputs ``z`` (normalised template crop ``[1, 3, Sz, Sz]``)
and ``x`` (normalised search crop ``[1, 3, Sx, Sx]``) and outputs ``score`` ``[1, 1, g, g]``, ``size`` and
``offset`` ``[1, 2, g, g]`` (the head's maps). :class:`OnnxTracker` runs such a file with the PyTorch tracker's
own crop, normalisation and post-processing (:class:`~vislite_tracking.ostrack.tracker.ostrack_tracker.CropTracker`):
Hann window on the score map, :func:`~vislite_tracking.ostrack.model.decode_boxes` at its peak, map back and clipping.

Needs the ``onnx`` extra (``pip install 'vislite-tracking[onnx]'``): ``onnx`` to export, ``onnxruntime`` to run.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn

from vislite_tracking.ostrack.model.head import decode_boxes
from vislite_tracking.ostrack.model.ostrack import OSTrack
from vislite_tracking.ostrack.tracker.ostrack_tracker import CropTracker, hann2d

OPSET = 17
INPUTS = ("z", "x")
OUTPUTS = ("score", "size", "offset")
INSTALL_HINT = "pip install 'vislite-tracking[onnx]'"


def require(module: str) -> ModuleType:
    """Import ``module`` (``onnx`` or ``onnxruntime``), or raise an ``ImportError`` saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"the ONNX backend needs the '{module}' package, which is not installed: {INSTALL_HINT}"
        ) from error


class HeadMaps(nn.Module):
    """The network with tensor outputs (score, size, offset maps), for export."""

    def __init__(self, network: OSTrack) -> None:
        super().__init__()
        self.network = network

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.network(z, x)
        return out["score_map"], out["size_map"], out["offset_map"]


def export_onnx(network: OSTrack, path: str | os.PathLike) -> Path:
    """Write ``network`` (batch 1, fp32, opset 17) to ``path`` as an ONNX graph ``(z, x) -> (score, size,
    offset)``; returns the path.

    The graph is traced in eval mode (BatchNorm running statistics, no drop path) with the tracker's fixed crop
    sizes; candidate elimination keeps its fixed token counts, so the trace is exact for those shapes. Every
    module's train / eval mode is left as it was. Uses the TorchScript-based exporter (``dynamo=False``), which
    needs ``onnx`` but not ``onnxscript``.
    """
    require("onnx")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    modes = {module: module.training for module in network.modules()}
    wrapper = HeadMaps(network).eval()  # export restores the wrapper's mode recursively: the wrapper stays eval
    size_z, size_x = network.template_size, network.search_size
    inputs = (torch.zeros(1, 3, size_z, size_z), torch.zeros(1, 3, size_x, size_x))
    try:
        with warnings.catch_warnings():
            # fixed shapes: the Python values the tracer records (token counts, mask checks) are constants
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            # the TorchScript-based exporter is deprecated in favour of dynamo=True, which needs onnxscript
            for message in (".*legacy TorchScript-based ONNX export", "The feature will be removed"):
                warnings.filterwarnings("ignore", message=message, category=DeprecationWarning)
            torch.onnx.export(
                wrapper,
                inputs,
                str(path),
                input_names=list(INPUTS),
                output_names=list(OUTPUTS),
                opset_version=OPSET,
                dynamo=False,
            )
    finally:
        for module, training in modes.items():
            module.training = training
    return path


def _static_shape(shape: list[Any], name: str) -> tuple[int, ...]:
    if not all(isinstance(d, int) for d in shape):
        raise ValueError(f"ONNX tracker graphs have fixed shapes; '{name}' has shape {shape}")
    return tuple(shape)


class OnnxTracker(CropTracker):
    """Single-object tracker on ONNX Runtime: ``initialize(image, box_xywh)`` then ``track(image) -> box_xywh``.

    ``model`` is a file written by :func:`export_onnx` (or its bytes); the crop sizes and score grid are read
    off the graph's shapes. Crops, normalisation and post-processing are the PyTorch tracker's
    (:class:`~vislite_tracking.ostrack.tracker.OSTracker`, same ``template_factor``, ``search_factor``, ``margin``); the
    network runs its full head maps, so boxes equal ``OSTracker``'s up to float rounding. The template crop is
    kept and re-embedded with every frame (the graph takes images). ``threads``: the session's intra-op
    threads (default ``torch.get_num_threads()``). CPU execution provider unless ``providers`` is given.
    """

    def __init__(
        self,
        model: str | os.PathLike | bytes,
        *,
        template_factor: float = 2.0,
        search_factor: float = 4.0,
        margin: float = 10.0,
        threads: int | None = None,
        providers: list[str] | None = None,
    ) -> None:
        super().__init__(template_factor=template_factor, search_factor=search_factor, margin=margin)
        ort = require("onnxruntime")
        options = ort.SessionOptions()
        self.threads = torch.get_num_threads() if threads is None else int(threads)
        options.intra_op_num_threads = self.threads
        source = model if isinstance(model, bytes) else str(model)
        self.session = ort.InferenceSession(source, options, providers=providers or ["CPUExecutionProvider"])
        inputs = {i.name: _static_shape(i.shape, i.name) for i in self.session.get_inputs()}
        outputs = {o.name: _static_shape(o.shape, o.name) for o in self.session.get_outputs()}
        if set(inputs) != set(INPUTS) or set(outputs) != set(OUTPUTS):
            raise ValueError(
                f"expected a graph (z, x) -> (score, size, offset) from export_onnx, got inputs {sorted(inputs)} "
                f"and outputs {sorted(outputs)}"
            )
        self.template_size, self.search_size = inputs["z"][-1], inputs["x"][-1]
        self.window = hann2d(outputs["score"][-1])  # [1, 1, g, g]

    @classmethod
    def from_network(cls, network: OSTrack, path: str | os.PathLike | None = None, **kwargs: Any) -> OnnxTracker:
        """Export ``network`` (:func:`export_onnx`) to ``path`` (kept) or a temporary file (removed once the
        session has loaded it) and return its tracker; ``kwargs`` go to :class:`OnnxTracker`."""
        require("onnxruntime")  # before the export, which would be wasted without it
        if path is not None:
            return cls(export_onnx(network, path), **kwargs)
        with tempfile.TemporaryDirectory(prefix="vislite-onnx-") as tmp:
            return cls(export_onnx(network, Path(tmp) / "ostrack.onnx"), **kwargs)

    def _prepare_template(self, template: torch.Tensor) -> np.ndarray:
        return template.numpy()  # [1, 3, Sz, Sz]

    def _locate(self, template: np.ndarray, search: torch.Tensor) -> torch.Tensor:
        score, size, offset = self.session.run(list(OUTPUTS), {"z": template, "x": search.numpy()})
        boxes = decode_boxes(torch.from_numpy(score) * self.window, torch.from_numpy(size), torch.from_numpy(offset))
        return boxes[0]

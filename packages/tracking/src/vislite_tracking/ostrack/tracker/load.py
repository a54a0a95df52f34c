"""``load_tracker(checkpoint)``: a ready tracker from a vislite training checkpoint or a released OSTrack file."""

from __future__ import annotations

import os
from typing import Any

from vislite_common.checkpoint import CheckpointError, load_into
from vislite_tracking.ostrack.model.build import build_ostrack
from vislite_tracking.ostrack.model.weights import tracker_state_dict
from vislite_tracking.ostrack.tracker.onnx_backend import OnnxTracker
from vislite_tracking.ostrack.tracker.ostrack_tracker import OSTracker

BACKENDS = ("torch", "onnx")


def load_network(checkpoint: str | os.PathLike, **overrides: Any):
    """The :class:`~vislite_tracking.ostrack.model.OSTrack` stored in ``checkpoint``, in eval mode.

    ``overrides`` replace build arguments (e.g. ``backbone``, ``ce_keep_ratio``); released checkpoints use
    OSTrack's defaults and the sizes read off their tensors. Every key must match.
    """
    state, build_args = tracker_state_dict(checkpoint)
    if build_args is None and "backbone" not in overrides:
        raise CheckpointError(
            f"{checkpoint} holds weights but not the network's build arguments (key 'ostrack'); load it with "
            f"load_tracker(path, backbone=..., template_size=..., search_size=...) or use a training checkpoint"
        )
    args = {**(build_args or {}), **overrides}
    network = build_ostrack(drop_path_rate=0.0, **args)
    load_into(network, state)
    return network.eval()


def load_tracker(
    checkpoint: str | os.PathLike,
    *,
    template_factor: float = 2.0,
    search_factor: float = 4.0,
    threads: int | None = None,
    fast: bool = True,
    backend: str = "torch",
    onnx_path: str | os.PathLike | None = None,
    **overrides: Any,
) -> OSTracker | OnnxTracker:
    """A tracker with ``initialize(image, box_xywh)`` and ``track(image) -> box_xywh`` from ``checkpoint``.

    Accepts vislite Lightning checkpoints (``last.ckpt``), plain :class:`OSTrack` state dicts saved with their
    ``ostrack`` build arguments, and released OSTrack / MAE-Lite tracking checkpoints (``{"net": ...}``).

    ``backend="torch"`` (default): an :class:`OSTracker`; ``fast=False`` runs the network's own modules instead
    of the inference path. ``backend="onnx"``: the network exported to ONNX (to ``onnx_path``, kept, or a
    temporary file) in an :class:`OnnxTracker` (ONNX Runtime, ``threads`` intra-op threads, default torch's);
    needs ``pip install 'vislite-tracking[onnx]'``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    network = load_network(checkpoint, **overrides)
    if backend == "onnx":
        return OnnxTracker.from_network(
            network, onnx_path, template_factor=template_factor, search_factor=search_factor, threads=threads
        )
    if onnx_path is not None:
        raise ValueError("onnx_path is for backend='onnx'")
    return OSTracker(
        network=network, template_factor=template_factor, search_factor=search_factor, threads=threads, fast=fast
    )

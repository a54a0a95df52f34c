"""SiamFC++ networks and trackers from local checkpoint files: vislite training checkpoints (which carry their
build arguments) or video_analyst's released ``.pkl`` files (name the backbone)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from vislite_tracking.siamfcpp.model import SiamFCpp, build_siamfcpp, map_video_analyst_keys
from vislite_tracking.siamfcpp.model.weights import load_strict, read_state
from vislite_tracking.siamfcpp.tracker import SiamFCppTracker


def load_siamfcpp(checkpoint: str | os.PathLike, *, backbone: str | None = None, **build: Any) -> SiamFCpp:
    """The network of ``checkpoint`` in eval mode. A vislite checkpoint rebuilds itself; a video_analyst release
    needs ``backbone`` (``alexnet``, ``googlenet``, ``shufflenetv2_x1_0``, ``shufflenetv2_x0_5``). Keys or
    shapes that do not match are a ValueError naming the file."""
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"SiamFC++ checkpoint {path} does not exist (weights load from local files only)")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    args = blob.get("siamfcpp") if isinstance(blob, dict) else None
    if args is not None:
        if backbone is not None and backbone != args["backbone"]:
            raise ValueError(f"{path}: a {args['backbone']} checkpoint, but backbone={backbone!r} was asked for")
        network = build_siamfcpp(**{**args, **build})
        load_strict(network, read_state(path), path)
    else:
        if backbone is None:
            raise ValueError(f"{path}: not a vislite SiamFC++ checkpoint; pass backbone= to read a video_analyst one")
        network = build_siamfcpp(backbone, **build)
        load_strict(network, map_video_analyst_keys(read_state(path)), path)
    return network.eval()


def load_siamfcpp_tracker(
    checkpoint: str | os.PathLike, *, backbone: str | None = None, **tracker: Any
) -> SiamFCppTracker:
    """:class:`SiamFCppTracker` around :func:`load_siamfcpp`'s network (post-processing keyword overrides)."""
    return SiamFCppTracker(load_siamfcpp(checkpoint, backbone=backbone), **tracker)

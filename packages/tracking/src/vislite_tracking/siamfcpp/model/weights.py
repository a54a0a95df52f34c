"""Loading video_analyst's released SiamFC++ checkpoints (``siamfcpp-<backbone>-got-md5_*.pkl``) from local
files, and vislite checkpoints of SiamFC++ networks."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

ADJUST = ("c_z_k.", "r_z_k.", "c_x.", "r_x.", "head.")


def map_video_analyst_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """video_analyst ``SiamTrack`` keys -> :class:`SiamFCpp` keys: ``basemodel.`` -> ``backbone.`` (a
    ShuffleNet's ``basemodel._model.`` -> ``backbone._model.``), ``module.`` (DataParallel) dropped, loss
    buffers (``loss.``) dropped; the adjust convs and the head keep their names."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = key[len("module.") :] if key.startswith("module.") else key
        if name.startswith("loss."):
            continue
        if name.startswith("basemodel."):
            name = "backbone." + name[len("basemodel.") :]
        out[name] = value
    return out


def read_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file: a bare state dict, ``model_state_dict`` (video_analyst) or
    ``state_dict`` (Lightning, ``model.`` prefix removed)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SiamFC++ checkpoint {path} does not exist (weights load from local files only)")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, Mapping):
        raise ValueError(f"{path}: expected a state dict, got {type(blob).__name__}")
    if "model_state_dict" in blob:
        return dict(blob["model_state_dict"])
    if "state_dict" in blob:
        state = blob["state_dict"]
        return {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}
    return dict(blob)


def load_video_analyst_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a released video_analyst SiamFC++ checkpoint into ``model`` strictly: a missing or unexpected key
    or a shape mismatch is a ValueError naming the file and the keys (e.g. the wrong backbone)."""
    state = map_video_analyst_keys(read_state(path))
    load_strict(model, state, path)
    return model


def load_strict(model: nn.Module, state: Mapping[str, torch.Tensor], path: str | os.PathLike) -> None:
    """``model.load_state_dict(state)`` with one clear error listing every mismatch."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        if shapes:
            parts.append(f"{len(shapes)} of another shape (e.g. {shapes[:2]})")
        raise ValueError(f"{path}: checkpoint does not match the SiamFC++ network: " + "; ".join(parts))
    model.load_state_dict(state)

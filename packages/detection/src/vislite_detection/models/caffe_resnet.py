"""Caffe-style ResNet-50 (NDet's FCOS backbone): stride in the first 1x1 convolution, weights from local files.

Two file kinds hold these weights: detectron2's ``R-50.pkl`` (a pickle of numpy arrays, Caffe2 names such as
``res2_0_branch2a_w`` / ``res2_0_branch2a_bn_s`` (``_bn_rm`` / ``_bn_riv`` read as running mean / variance, as
detectron2 does), or detectron2 names such as ``res2.0.conv1.weight`` /
``res2.0.conv1.norm.weight``) and mmdetection's ``resnet50_caffe`` ``.pth`` (torchvision names). Caffe batch norm
is an affine scale and bias only: a file without statistics loads running mean 0 and variance 1.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vislite_common.checkpoint import CheckpointError, extract_state_dict, load_into, remap_state_dict, safe_load

_CAFFE2_STEM = {"conv1_w": "conv1.weight", "res_conv1_bn_s": "bn1.weight", "res_conv1_bn_b": "bn1.bias"}
_CAFFE2_BLOCK = re.compile(r"^res(\d)_(\d+)_branch(1|2a|2b|2c)_(w|bn_s|bn_b|bn_rm|bn_riv)$")
_D2_BLOCK = re.compile(r"^res(\d)\.(\d+)\.(conv1|conv2|conv3|shortcut)\.(weight|norm\.\w+)$")
_BRANCH = {"1": ("downsample.0", "downsample.1"), "2a": ("conv1", "bn1"), "2b": ("conv2", "bn2")}
_BRANCH["2c"] = ("conv3", "bn3")
_D2_CONV = {"conv1": ("conv1", "bn1"), "conv2": ("conv2", "bn2"), "conv3": ("conv3", "bn3")}
_D2_CONV["shortcut"] = ("downsample.0", "downsample.1")
_BN_FIELD = {"bn_s": "weight", "bn_b": "bias", "bn_rm": "running_mean", "bn_riv": "running_var"}


def use_caffe_strides(body: nn.Module) -> nn.Module:
    """Move each downsampling bottleneck's stride from its 3x3 (torchvision, "pytorch" style) to its first 1x1
    convolution ("caffe" style, as detectron2's and mmdetection's Caffe ResNets)."""
    for stage in ("layer2", "layer3", "layer4"):
        block = getattr(body, stage)[0]
        stride = block.conv2.stride
        block.conv1.stride, block.conv2.stride = stride, (1, 1)
    return body


class _ArraysOnly(pickle.Unpickler):
    """Unpickles dicts, lists, numbers, strings and numpy arrays; any other class is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _caffe2_name(key: str) -> str | None:
    if key in _CAFFE2_STEM:
        return _CAFFE2_STEM[key]
    match = _CAFFE2_BLOCK.match(key)
    if match is None:
        return None
    stage, block, branch, field = match.groups()
    conv, norm = _BRANCH[branch]
    prefix = f"layer{int(stage) - 1}.{block}."
    return prefix + (f"{conv}.weight" if field == "w" else f"{norm}.{_BN_FIELD[field]}")


def _detectron2_name(key: str) -> str | None:
    if key == "stem.conv1.weight":
        return "conv1.weight"
    if key.startswith("stem.conv1.norm."):
        return "bn1." + key.removeprefix("stem.conv1.norm.")
    match = _D2_BLOCK.match(key)
    if match is None:
        return None
    stage, block, part, field = match.groups()
    conv, norm = _D2_CONV[part]
    prefix = f"layer{int(stage) - 1}.{block}."
    return prefix + (f"{conv}.weight" if field == "weight" else f"{norm}.{field.removeprefix('norm.')}")


def torchvision_names(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A Caffe2 / detectron2 / torchvision-named ResNet state dict renamed to torchvision's names (classifier and
    unknown keys dropped); batch norm layers without statistics get running mean 0 and variance 1."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.startswith(("conv1.", "bn1.", "layer")):
            name: str | None = key
        else:
            name = _caffe2_name(key) or _detectron2_name(key)
        if name is not None and not name.endswith("num_batches_tracked"):
            out[name] = value
    for name in [k for k in out if k.endswith(".weight") and k.replace(".weight", ".bias") in out]:
        base = name.removesuffix(".weight")
        if out[name].ndim == 1:
            out.setdefault(f"{base}.running_mean", torch.zeros_like(out[name]))
            out.setdefault(f"{base}.running_var", torch.ones_like(out[name]))
    return out


def read_resnet_file(path: str | os.PathLike) -> dict[str, Tensor]:
    """The tensors of a detectron2 ``.pkl`` (``{"model": {name: array}}`` or a bare dict) or of a torch file."""
    path = Path(path)
    if path.suffix != ".pkl":
        return remap_state_dict(extract_state_dict(safe_load(path)))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: ResNet weight file not found")
    try:
        with open(path, "rb") as handle:
            data = _ArraysOnly(handle, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as error:
        raise CheckpointError(f"{path}: not a detectron2 weight pickle of numpy arrays ({error})") from None
    arrays = data.get("model", data) if isinstance(data, dict) else None
    if not isinstance(arrays, dict):
        kind = type(data).__name__
        raise CheckpointError(f"{path}: expected a dict of arrays (optionally under 'model'), got {kind}")
    return {k: torch.as_tensor(np.asarray(v)) for k, v in arrays.items() if isinstance(v, np.ndarray)}


def load_caffe_resnet_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a detectron2 / mmdetection Caffe ResNet-50 file into a torchvision-layout ``model``; every key except
    the classifier must match (a missing or mis-shaped one raises :class:`CheckpointError` naming it)."""
    state = torchvision_names(read_resnet_file(path))
    if not state:
        raise CheckpointError(f"{path}: no ResNet weights found (expected Caffe2, detectron2 or torchvision names)")
    target = model.state_dict()
    state = {k: v.to(target[k].dtype) if k in target else v for k, v in state.items()}
    load_into(model, state, allow_missing=("fc.",))
    return model

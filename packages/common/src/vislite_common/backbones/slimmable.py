"""Slimmable networks: the width switch, slimming to an ordinary network, and the slimmable-backbone registry.

A slimmable backbone holds one set of shared weights and one BatchNorm set per supported width. Its width is
switched by a setter (``model.width_mult = 0.5``, ``model.set_width(0.5)`` or ``with model.at_width(0.5):``);
:func:`slim` turns it into a standalone ordinary network of one width (leading weight slices, that width's own
BatchNorm), which exports and loads like any other vislite backbone.

::

    net = create_slimmable_backbone("resnet50", width_mult=0.5)   # features (N, 1024)
    net.width_mult = 0.25                                        # features (N, 512)
    small = slim(net, 0.25)                                      # plain timm ResNet, same output
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from vislite_common.backbones.slimmable_ops import (
    SlimmableConv2d,
    SlimmableLinear,
    _SwitchableBatchNorm,
    _WidthSwitch,
    width_index,
)

DEFAULT_WIDTHS: tuple[float, ...] = (1.0, 0.75, 0.5, 0.25)
"""The slimmable-network width list (S-ResNet-50, S-MobileNetV2, US3L's ``WIDTH_MULT_LIST``)."""


def make_divisible(value: float, divisor: int = 8, min_value: int = 1) -> int:
    """MobileNet's channel rounding: the nearest multiple of ``divisor`` (at least ``min_value``), never more than
    10 % below ``value`` (the slimmable-networks variant, ``min_value`` 1)."""
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class SlimmableMixin:
    """The width switch of a slimmable network (mixed into an ``nn.Module`` with slimmable layers).

    Setting ``width_mult`` checks it against ``width_mults`` and sets it on every slimmable layer.
    """

    width_mults: tuple[float, ...]
    _width_mult: float

    @property
    def width_mult(self) -> float:
        """The width the network currently runs at."""
        return self._width_mult

    @width_mult.setter
    def width_mult(self, value: float) -> None:
        index = width_index(self.width_mults, value, where=type(self).__name__)
        self._width_mult = self.width_mults[index]
        for module in self.modules():  # type: ignore[attr-defined]
            if isinstance(module, _WidthSwitch):
                module.width_mult = self._width_mult

    def set_width(self, width_mult: float) -> SlimmableMixin:
        """Switch to ``width_mult`` (one of ``width_mults``) and return the network."""
        self.width_mult = width_mult
        return self

    @contextmanager
    def at_width(self, width_mult: float) -> Iterator[SlimmableMixin]:
        """Run the ``with`` body at ``width_mult``; the previous width is restored afterwards."""
        previous = self.width_mult
        self.width_mult = width_mult
        try:
            yield self
        finally:
            self.width_mult = previous

    def plain_network(self, width_mult: float) -> nn.Module:
        """A freshly initialised ordinary network of ``width_mult`` with this network's key layout (per family)."""
        raise NotImplementedError


def slim_state_dict(model: nn.Module, width_mult: float) -> dict[str, torch.Tensor]:
    """The weights of ``model`` at ``width_mult`` under ordinary-layer names (copies; ``model`` is unchanged).

    Slimmable convolutions and linears give their leading slices, switchable BatchNorms that width's own
    BatchNorm (``bn1.bn.<i>.weight`` -> ``bn1.weight``), every other parameter and buffer is copied as it is.
    """
    if not isinstance(model, SlimmableMixin):
        raise TypeError(f"{type(model).__name__} is not a slimmable network")
    state: dict[str, torch.Tensor] = {}
    with model.at_width(width_mult):
        handled: list[str] = []
        for name, module in model.named_modules():
            if any(name.startswith(prefix + ".") for prefix in handled):
                continue  # a switchable BatchNorm's private per-width BatchNorms
            prefix = f"{name}." if name else ""
            if isinstance(module, _SwitchableBatchNorm):
                handled.append(name)
                source: Mapping[str, torch.Tensor] = module.bn[module.width_idx].state_dict()
            elif isinstance(module, SlimmableConv2d):
                source = module.plain().state_dict()
            elif isinstance(module, SlimmableLinear):
                idx = module.width_idx
                out_f, in_f = module.out_features_list[idx], module.in_features_list[idx]
                source = {"weight": module.weight[:out_f, :in_f]}  # leading slice [out_f, in_f]
                if module.bias is not None:
                    source["bias"] = module.bias[:out_f]
            else:
                source = {k: v for k, v in {**module._parameters, **module._buffers}.items() if v is not None}
            for key, value in source.items():
                state[prefix + key] = value.detach().clone()
    return state


def check_width_state(state: Mapping[str, torch.Tensor], model: nn.Module, *, source: str = "checkpoint") -> None:
    """Raise ``ValueError`` when ``state``'s tensors do not have ``model``'s shapes (e.g. a checkpoint of another
    width), naming the first differing key, both shapes and the width ratio they imply."""
    expected = model.state_dict()
    for key, value in state.items():
        if key in expected and tuple(value.shape) != tuple(expected[key].shape):
            want, got = tuple(expected[key].shape), tuple(value.shape)
            ratio = (got[0] / want[0]) if want and want[0] else float("nan")
            width = getattr(model, "width_mult", None)
            where = f" (model width {width}; the file looks like width {width * ratio:g})" if width else ""
            raise ValueError(
                f"{source}: {key} has shape {got}, the model expects {want}{where}: "
                "the weights were exported at another width"
            )


def slim(model: nn.Module, width_mult: float) -> nn.Module:
    """A standalone ordinary network of ``width_mult``: leading weight slices and exactly that width's BatchNorm
    set, no classifier; ``slim(model, w)(x)`` equals ``model`` at width ``w``. ``model`` is left unchanged (its
    current width included); the result is in ``model``'s train/eval mode and on its device."""
    if not isinstance(model, SlimmableMixin):
        raise TypeError(f"slim() needs a slimmable network, got {type(model).__name__}")
    width_index(model.width_mults, width_mult, where=type(model).__name__)
    state = slim_state_dict(model, width_mult)
    plain = model.plain_network(width_mult)
    check_width_state(state, plain, source=f"{type(model).__name__} at width {width_mult}")
    plain.load_state_dict(state, strict=True)
    reference = next(iter(state.values()))
    return plain.to(device=reference.device).train(model.training)  # type: ignore[attr-defined]


_SLIMMABLE: dict[str, Callable[..., nn.Module]] = {}


def register_slimmable(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make a slimmable-backbone factory available to :func:`create_slimmable_backbone` as ``name``."""

    def decorate(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _SLIMMABLE[name] = factory
        return factory

    return decorate


def list_slimmable_backbones() -> list[str]:
    """Names :func:`create_slimmable_backbone` knows."""
    return sorted(_SLIMMABLE)


def create_slimmable_backbone(name: str, width_mult: float = 1.0, **kwargs: Any) -> nn.Module:
    """Slimmable backbone ``name`` (see :func:`list_slimmable_backbones`) running at ``width_mult``.

    ``kwargs`` go to the factory (e.g. ``width_mults``, the supported widths). Raises ``ValueError`` for an unknown
    name or an unsupported width.
    """
    if name not in _SLIMMABLE:
        raise ValueError(f"unknown slimmable backbone {name!r}; known: {', '.join(list_slimmable_backbones())}")
    model = _SLIMMABLE[name](**kwargs)
    model.width_mult = width_mult  # type: ignore[attr-defined]
    return model

"""A registry of named detector factories (``create_detector("fcos_resnet50_fpn", num_classes=81)``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

_DETECTORS: dict[str, Callable[..., nn.Module]] = {}
F = TypeVar("F", bound=Callable[..., nn.Module])


def register_detector(factory: F) -> F:
    """Register ``factory`` under its function name; registering a name twice is an error."""
    name = factory.__name__
    if name in _DETECTORS:
        raise ValueError(f"detector {name!r} is already registered")
    _DETECTORS[name] = factory
    return factory


def list_detectors(prefix: str = "") -> list[str]:
    """Registered detector names starting with ``prefix`` (``test_`` lists the tiny test variants)."""
    return sorted(name for name in _DETECTORS if name.startswith(prefix))


def create_detector(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered detector ``name``; ``None`` keyword arguments are dropped (the factory's default wins)."""
    if name not in _DETECTORS:
        raise ValueError(f"unknown detector {name!r}; registered: {', '.join(list_detectors())}")
    return _DETECTORS[name](**{k: v for k, v in kwargs.items() if v is not None})

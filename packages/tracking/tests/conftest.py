"""Shared fixtures of the model / training / tracker tests: a tiny tracker network and the embedded tracking world."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from vislite_tracking.data.datamodule import write_tracking_world
from vislite_tracking.model import OSTrack, build_ostrack

TINY = dict(
    backbone="test_vislite_vit",
    template_size=32,
    search_size=64,
    ce_loc=(1, 2),
    ce_keep_ratio=(0.7, 0.7),
    head_channels=32,
    drop_path_rate=0.0,
)


def tiny_network(seed: int = 0, **overrides) -> OSTrack:
    """The test ViT (patch 8, width 32, 4 blocks) in a 32 / 64 px tracker, in eval mode."""
    torch.manual_seed(seed)
    return build_ostrack(**{**TINY, **overrides}).eval()


@pytest.fixture
def make_network() -> Callable[..., OSTrack]:
    """Factory of tiny networks: ``make_network(seed=0, **build_overrides)``."""
    return tiny_network


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded LaSOT + GOT-10k world (small)."""
    root = tmp_path_factory.mktemp("world")
    return write_tracking_world(root, lasot=4, train=4, val=2, num_frames=30)

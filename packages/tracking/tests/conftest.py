"""Shared fixtures of the model / training / tracker tests: a tiny tracker network and the embedded tracking world."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from vislite_tracking.data.datamodule import write_tracking_world
from vislite_tracking.ostrack.model import OSTrack, build_ostrack

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


def random_batch_norm_statistics(module: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial eval-mode BatchNorms (fresh ones are the identity), so that folding them is tested."""
    generator = torch.Generator().manual_seed(seed)
    for bn in module.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            n = bn.num_features
            bn.running_mean.copy_(torch.randn(n, generator=generator) * 0.3)
            bn.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            bn.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            bn.bias.data.copy_(torch.randn(n, generator=generator) * 0.2)


@pytest.fixture
def randomise_batch_norms() -> Callable[..., None]:
    """``randomise_batch_norms(module, seed=0)``: give ``module``'s BatchNorms non-trivial statistics."""
    return random_batch_norm_statistics


@pytest.fixture
def make_network() -> Callable[..., OSTrack]:
    """Factory of tiny networks: ``make_network(seed=0, **build_overrides)``."""
    return tiny_network


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded LaSOT + GOT-10k world (small)."""
    root = tmp_path_factory.mktemp("world")
    return write_tracking_world(root, lasot=4, train=4, val=2, num_frames=30)

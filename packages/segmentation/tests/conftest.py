"""Shared fixtures: a small embedded ADE20K-layout world, tiny segmentors, and composed training configs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from vislite_common.engine.compose import compose_config
from vislite_segmentation.models import EncoderDecoder, FeaturePyramidNeck, FPNHead, build_vit_backbone

WORLD = dict(seed=0, image_size=64, num_train=48, num_val=12)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding the embedded ADE20K world at ``world/ade20k`` (64 px, 48 train / 12 val images)."""
    from vislite_common.data.world import make_ade20k

    root = tmp_path_factory.mktemp("data")
    make_ade20k(root / "world" / "ade20k", **WORLD)
    return root


def tiny_segmentor(num_classes: int = 11, img_size: int = 32) -> EncoderDecoder:
    """``test_vislite_vit`` (patch 8, width 32, 4 blocks) + neck + Semantic FPN head: pyramid strides 2-16."""
    backbone = build_vit_backbone("test_vislite_vit", img_size=img_size, indices=(0, 1, 2, 3), drop_path_rate=0.0)
    neck = FeaturePyramidNeck(in_channels=32, out_channels=16)
    head = FPNHead(in_channels=[16] * 4, strides=(2, 4, 8, 16), channels=16, num_classes=num_classes)
    return EncoderDecoder(backbone=backbone, neck=neck, decode_head=head)


TINY_MODEL = [
    "model.model.backbone.name=test_vislite_vit",
    "model.model.backbone.indices=[0,1,2,3]",
    "model.model.neck_channels=16",
    "model.model.decode_head.channels=32",
]


def compose_train_config(data_dir: Path, output_dir: Path, overrides: list[str] | None = None) -> DictConfig:
    """vislite-segmentation's demo config on the test world, CPU fp32, no progress bars or loggers."""
    return compose_config(
        "vislite_segmentation.configs",
        [
            "experiment=demo_segmentation",
            f"data.image_size={WORLD['image_size']}",
            f"data.num_train={WORLD['num_train']}",
            f"data.num_val={WORLD['num_val']}",
            "data.crop_size=64",
            "data.scale=[256,64]",
            "data.eval_scale=[256,64]",
            "trainer.precision=32",
            "trainer.enable_model_summary=false",
            "trainer.enable_progress_bar=false",
            "logger=none",
            f"paths.data_dir={data_dir}",
            f"paths.output_dir={output_dir}",
            f"paths.log_dir={output_dir}",
            *(overrides or []),
        ],
        output_dir=output_dir,
    )


@pytest.fixture
def train_config() -> Callable[..., DictConfig]:
    """:func:`compose_train_config`, for tests (test modules cannot import this file under importlib mode)."""
    return compose_train_config


@pytest.fixture
def tiny_model_overrides() -> list[str]:
    """Overrides that put the tiny test ViT (patch 8, width 32, 4 blocks) into the semfpn config."""
    return list(TINY_MODEL)


@pytest.fixture
def segmentor() -> EncoderDecoder:
    torch.manual_seed(0)
    return tiny_segmentor().eval()

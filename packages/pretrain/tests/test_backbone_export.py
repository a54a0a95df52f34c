"""The backbone contract from the pre-training side: every run ends with ``backbone.safetensors`` +
``backbone.json`` in its run directory, and ``vislite-export-backbone`` writes the same from the checkpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from safetensors.torch import load_file

from vislite_common.backbones import create_backbone
from vislite_common.backbones.export_cli import main as export_main
from vislite_common.engine.compose import compose_config
from vislite_common.engine.train import train

SMALL_VIT = ["+model.model.embed_dim=32", "+model.model.depth=2", "+model.model.num_heads=2",
             "+model.model.patch_size=16", "model.model.encoder_name=test_vislite_vit"]
TINY_RUN = [
    "trainer.precision=32", "trainer.enable_model_summary=false", "trainer.enable_progress_bar=false",
    "trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "logger=none",
    "model.scheduler.warmup_epochs=0",
    "data.image_size=64", "data.train_per_class=4", "data.val_per_class=2", "data.batch_size=8",
]


@pytest.fixture(autouse=True)
def _clear_hydra() -> Iterator[None]:
    yield
    GlobalHydra.instance().clear()


@pytest.mark.parametrize(("experiment", "method"), [("demo_pretrain", "mae_lite"), ("demo_mocov3", "mocov3")])
def test_pretraining_run_writes_its_backbone(tmp_path: Path, experiment: str, method: str) -> None:
    run = tmp_path / "run"
    overrides = [f"experiment={experiment}", *SMALL_VIT, *TINY_RUN, f"paths.data_dir={tmp_path / 'data'}",
                 f"paths.output_dir={run}"]
    train(compose_config("vislite_pretrain.configs", overrides, output_dir=run))

    manifest = json.loads((run / "backbone.json").read_text())
    assert manifest["name"] == "test_vislite_vit" and manifest["source"]["method"] == method
    assert manifest["kwargs"]["embed_dim"] == 32 and manifest["input_size"] == 64
    assert manifest["source"]["checkpoint"].endswith("last.ckpt")
    exported = load_file(run / "backbone.safetensors")
    assert not any(k.startswith(("decoder", "mask_token", "momentum", "predictor")) for k in exported)

    # any package: create_backbone(pretrained=<manifest>) rebuilds the encoder with these weights
    backbone = create_backbone(pretrained=run / "backbone.json").eval()
    assert backbone.embed_dim == 32 and len(backbone.blocks) == 2
    state = backbone.state_dict()
    for key, value in exported.items():
        assert torch.equal(state[key], value), key
    assert backbone.forward_features(torch.randn(1, 3, 64, 64)).shape == (1, 17, 32)

    # the CLI rebuilds the run from its config and writes the same file from the checkpoint
    assert export_main([str(run / "checkpoints" / "last.ckpt"), "--out", str(tmp_path / "cli")]) == 0
    again = load_file(tmp_path / "cli" / "backbone.safetensors")
    assert again.keys() == exported.keys()
    for key in exported:
        assert torch.equal(again[key], exported[key]), key
    assert json.loads((tmp_path / "cli" / "backbone.json").read_text())["source"]["method"] == method

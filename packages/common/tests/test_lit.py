"""Optimizer and scheduler factories, precision resolution, the NaN guard and atomic checkpoint IO."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import timm
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import vislite_common  # noqa: F401
from vislite_common.lit.callbacks import AtomicCheckpointIO, NonFiniteLossError, NonFiniteLossGuard
from vislite_common.lit.optim import OptimizerFactory, build_param_groups
from vislite_common.lit.precision import resolve_precision
from vislite_common.lit.schedule import WarmupCosineSchedule, warmup_cosine_factor


def test_layer_decay_groups_match_mae_lite_scales() -> None:
    model = timm.create_model("test_vislite_vit", depth=12, num_classes=10)
    groups = build_param_groups(model, weight_decay=0.05, layer_decay=0.85)
    scales = sorted({round(g["lr_scale"], 5) for g in groups})
    assert len(scales) == 14
    assert scales[0] == pytest.approx(0.12091, abs=1e-5)
    assert scales == pytest.approx([round(0.85 ** (13 - i), 5) for i in range(14)], abs=1e-5)


def test_no_weight_decay_on_norms_biases_and_tokens() -> None:
    model = timm.create_model("test_vislite_vit", num_classes=10)
    groups = build_param_groups(model, weight_decay=0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    no_decay = {names[id(p)] for g in groups if g["weight_decay"] == 0.0 for p in g["params"]}
    decay = {names[id(p)] for g in groups if g["weight_decay"] > 0.0 for p in g["params"]}
    assert {"cls_token", "pos_embed", "blocks.0.norm1.weight", "blocks.0.attn.qkv.bias", "head.bias"} <= no_decay
    assert {"blocks.0.attn.qkv.weight", "head.weight", "patch_embed.proj.weight"} <= decay


def test_decay_all_puts_every_trainable_parameter_in_one_decayed_group() -> None:
    model = timm.create_model("test_vislite_vit", num_classes=10)
    model.patch_embed.proj.weight.requires_grad_(False)  # frozen parameters stay out (MoCo-v3's frozen projection)
    optimizer = OptimizerFactory(weight_decay=0.1, decay_all=True, lr=1e-3)(model, global_batch_size=1)
    (group,) = optimizer.param_groups
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert group["weight_decay"] == 0.1 and len(group["params"]) == len(trainable)
    assert {id(p) for p in group["params"]} == {id(p) for p in trainable}
    with pytest.raises(ValueError, match="layer_decay"):
        build_param_groups(model, weight_decay=0.1, layer_decay=0.75, decay_all=True)


def test_learning_rate_scales_with_global_batch() -> None:
    factory = OptimizerFactory(base_lr=1.5e-4, betas=(0.9, 0.95), weight_decay=0.05)
    assert factory.learning_rate(4096) == pytest.approx(2.4e-3)
    optimizer = factory(nn.Linear(4, 2), global_batch_size=4096)
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.defaults["betas"] == (0.9, 0.95)
    assert all(g["lr"] == pytest.approx(2.4e-3) for g in optimizer.param_groups)
    with pytest.raises(ValueError, match="exactly one"):
        OptimizerFactory(lr=1e-3, base_lr=1e-3)
    with pytest.raises(ValueError, match="unknown"):
        OptimizerFactory(name="adagrad-ish", lr=1e-3)


def test_warmup_cosine_endpoints() -> None:
    kw = dict(total_steps=100, warmup_steps=10, peak_lr=1.0, min_lr=0.1)
    assert warmup_cosine_factor(0, **kw) == 0.0
    assert warmup_cosine_factor(5, **kw) == pytest.approx(0.5)
    assert warmup_cosine_factor(10, **kw) == pytest.approx(1.0)
    assert warmup_cosine_factor(55, **kw) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert warmup_cosine_factor(100, **kw) == pytest.approx(0.1)
    optimizer = torch.optim.SGD([{"params": [nn.Parameter(torch.zeros(1))], "lr": 0.5}], lr=1.0)
    scheduler = WarmupCosineSchedule(warmup_epochs=1, min_lr=0.1)(
        optimizer, total_steps=100, steps_per_epoch=10, peak_lr=1.0
    )
    for _ in range(10):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.5)  # peak times the group's lr_scale (0.5)
    with pytest.raises(ValueError, match="warm-up"):
        WarmupCosineSchedule(warmup_epochs=20)(optimizer, total_steps=100, steps_per_epoch=10, peak_lr=1.0)


def test_precision_auto_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_precision("32") == "32"
    assert resolve_precision("auto", "cpu") in ("bf16-mixed", "32-true")
    monkeypatch.setattr("vislite_common.lit.precision.cpu_supports_bf16", lambda: False)
    assert resolve_precision("auto", "cpu") == "32-true"
    monkeypatch.setattr("vislite_common.lit.precision.cpu_supports_bf16", lambda: True)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert resolve_precision("auto", "cpu") == "32-true"  # AVX512-BF16 without AMX: bf16 matmuls are slower
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert resolve_precision("auto", "cpu") == "bf16-mixed"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", "gpu") == "16-mixed"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", "gpu") == "bf16-mixed"


class _ExplodingRegressor(pl.LightningModule):
    """Linear regression whose loss turns to NaN at ``nan_step``."""

    def __init__(self, nan_step: int) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 1)
        self.nan_step = nan_step

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self.layer(x), y)
        return loss * float("nan") if self.global_step >= self.nan_step else loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tmp_path) -> None:
    data = DataLoader(TensorDataset(torch.randn(16, 4), torch.randn(16, 1)), batch_size=4)
    model = _ExplodingRegressor(nan_step=6)
    checkpoint = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True, every_n_train_steps=2)
    trainer = pl.Trainer(
        max_epochs=5,
        callbacks=[NonFiniteLossGuard(), checkpoint],
        plugins=[AtomicCheckpointIO()],
        logger=False,
        enable_progress_bar=False,
        accelerator="cpu",
    )
    with pytest.raises(NonFiniteLossError, match="loss is nan .*global step 6.*last good checkpoint"):
        trainer.fit(model, data)
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 6
    weights = saved["state_dict"]["layer.weight"]
    assert torch.isfinite(weights).all()
    torch.testing.assert_close(weights, model.layer.weight.detach())  # the NaN step never updated the weights

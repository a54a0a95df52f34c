"""MoCo-v3: loss anchors, heads, momentum encoder, distributed keys, augmentation, checkpoints, recipe, learning."""

from __future__ import annotations

import csv
import math
import multiprocessing as mp
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import timm
import torch
import torch.distributed as dist
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from vislite_common.checkpoint import safe_load
from vislite_common.data.world import make_classification
from vislite_common.engine.compose import compose_config
from vislite_common.engine.train import train
from vislite_common.lit.optim import OptimizerFactory
from vislite_common.lit.schedule import WarmupCosineSchedule
from vislite_pretrain.analysis.data import image_loader
from vislite_pretrain.analysis.probes import accuracy, extract_layer_features, fit_linear_probe, select_weight_decay
from vislite_pretrain.lit.moco_module import MoCoV3Module
from vislite_pretrain.mae_lite.pos_embed import sincos_pos_embed
from vislite_pretrain.mocov3 import (
    FixedViews,
    WorldTwoViewDataModule,
    build_moco_vit,
    build_mocov3,
    byol_view_pair,
    contrastive_loss,
    cosine_momentum,
    export_encoder,
    load_mocov3,
    moco_sincos_pos_embed,
    symmetric_loss,
    to_reference_keys,
)
from vislite_pretrain.weights import build_vit_classifier, build_vit_encoder

T = 0.2


def _tiny_moco(**kwargs) -> nn.Module:
    torch.manual_seed(0)
    return build_mocov3("test_vislite_vit", img_size=32, dim=16, mlp_dim=64, **kwargs)


# ------------------------------------------------------------------------------------------------------- the loss
@pytest.mark.parametrize(("n", "measured"), [(256, 4.476), (1024, 5.593)])
def test_loss_on_random_features_is_near_4T_ln_N(n: int, measured: float) -> None:
    """reference/pretrain.md E.3: two symmetric terms x CE x 2T on independent 256-d features ~ 0.8 ln N."""
    g = torch.Generator().manual_seed(0)
    q1, q2, k1, k2 = (torch.randn(n, 256, generator=g) for _ in range(4))
    loss = symmetric_loss(q1, q2, k1, k2, T).item()
    assert loss == pytest.approx(4 * T * math.log(n), abs=0.06)
    assert loss == pytest.approx(measured, abs=0.02)


def test_loss_with_queries_as_their_own_keys_and_2T_scaling() -> None:
    g = torch.Generator().manual_seed(0)
    q1, q2 = torch.randn(256, 256, generator=g), torch.randn(256, 256, generator=g)
    assert symmetric_loss(q1, q2, q2, q1, T).item() == pytest.approx(0.824, abs=0.005)  # E.3, "with q == k"
    q, k = torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g)
    logits = nn.functional.normalize(q, dim=1) @ nn.functional.normalize(k, dim=1).t() / T
    expected = 2 * T * nn.functional.cross_entropy(logits, torch.arange(8))
    torch.testing.assert_close(contrastive_loss(q, k, T), expected)
    torch.testing.assert_close(contrastive_loss(3 * q, 5 * k, T), expected)  # L2-normalised inside


def _ddp_worker(rank: int, store: str, q: torch.Tensor, k: torch.Tensor, out: mp.Queue) -> None:
    torch.set_num_threads(1)  # a forked child must not re-enter the parent's OpenMP pool (it can hang)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        mine = q.chunk(2)[rank].clone().requires_grad_(True)
        loss = contrastive_loss(mine, k.chunk(2)[rank], T)
        loss.backward()
        out.put((rank, loss.item(), mine.grad.tolist()))
    finally:
        dist.destroy_process_group()


def test_keys_gathered_across_two_gloo_processes(tmp_path: Path) -> None:
    """Each rank scores its queries against both ranks' keys, positives offset by rank: the mean of the two
    ranks' losses and their gradients equal one process's on the whole batch."""
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("needs fork (spawning two interpreters costs more than this test's budget)")
    ctx = mp.get_context("fork")
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g)
    out = ctx.Queue()
    procs = [ctx.Process(target=_ddp_worker, args=(r, str(tmp_path / "store"), q, k, out)) for r in range(2)]
    for proc in procs:
        proc.start()
    results = sorted(out.get(timeout=120) for _ in procs)
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    whole = q.clone().requires_grad_(True)
    expected = contrastive_loss(whole, k, T)
    expected.backward()
    assert (results[0][1] + results[1][1]) / 2 == pytest.approx(expected.item(), abs=1e-5)
    assert results[0][1] != pytest.approx(results[1][1])  # each rank has its own positives
    grads = torch.tensor(results[0][2] + results[1][2]) / 2  # DDP averages the ranks' gradients
    torch.testing.assert_close(grads, whole.grad)


# ------------------------------------------------------------------------------------------ model and momentum
def test_projector_and_predictor_shapes_and_batchnorms() -> None:
    moco = build_mocov3("vislite_vit_tiny", img_size=32)
    linears = [(m.in_features, m.out_features, m.bias is None) for m in moco.base_projector if isinstance(m, nn.Linear)]
    assert linears == [(192, 4096, True), (4096, 4096, True), (4096, 256, True)]
    linears = [(m.in_features, m.out_features) for m in moco.predictor if isinstance(m, nn.Linear)]
    assert linears == [(256, 4096), (4096, 256)]
    for head, depth in ((moco.base_projector, 3), (moco.predictor, 2)):
        norms = [m for m in head if isinstance(m, nn.BatchNorm1d)]
        assert [bn.affine for bn in norms] == [True] * (depth - 1) + [False]
        assert sum(isinstance(m, nn.ReLU) for m in head) == depth - 1
    assert moco.temperature == T
    assert moco.base_encoder(torch.randn(2, 3, 32, 32)).shape == (2, 192)  # the class token after the final norm


def test_momentum_schedule_endpoints() -> None:
    total = 1000
    values = [cosine_momentum(step, total, 0.99) for step in range(total + 1)]
    assert values[0] == pytest.approx(0.99)
    assert values[total // 2] == pytest.approx(0.995)
    assert values[-1] == pytest.approx(1.0)
    assert all(b >= a for a, b in zip(values, values[1:]))


def test_momentum_encoder_gets_no_gradient_and_follows_the_ema() -> None:
    moco = _tiny_moco()
    for base, momentum in ((moco.base_encoder, moco.momentum_encoder), (moco.base_projector, moco.momentum_projector)):
        for p, m in zip(base.parameters(), momentum.parameters()):
            torch.testing.assert_close(p, m)  # starts as a copy
    assert not any(p.requires_grad for p in moco.momentum_encoder.parameters())
    moco(torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)).backward()
    assert all(p.grad is None for p in [*moco.momentum_encoder.parameters(), *moco.momentum_projector.parameters()])
    assert moco.base_encoder.blocks[0].attn.qkv.weight.grad is not None
    assert moco.predictor[0].weight.grad is not None
    with torch.no_grad():
        moco.base_encoder.blocks[0].mlp.fc1.weight.add_(1.0)
    before = moco.momentum_encoder.blocks[0].mlp.fc1.weight.clone()
    moco.update_momentum_encoder(0.9)
    torch.testing.assert_close(
        moco.momentum_encoder.blocks[0].mlp.fc1.weight, 0.9 * before + 0.1 * moco.base_encoder.blocks[0].mlp.fc1.weight
    )


class _ListDataModule(pl.LightningDataModule):
    """Ready-made batches (4 images each) as a datamodule with the ``batch_size`` the optimizer scales by."""

    batch_size = 4

    def __init__(self, batches: list[Any]) -> None:
        super().__init__()
        self.batches = batches

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.batches, batch_size=None)  # each item is already a batch


class _MomentumRecorder(pl.Callback):
    """Records, around every training batch, both encoders' first block weights and the momentum used."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    @staticmethod
    def _weights(module: MoCoV3Module) -> tuple[torch.Tensor, torch.Tensor]:
        moco = module.moco
        return moco.base_encoder.blocks[0].mlp.fc1.weight.detach().clone(), (
            moco.momentum_encoder.blocks[0].mlp.fc1.weight.detach().clone()
        )

    def on_train_batch_start(self, trainer: pl.Trainer, module: MoCoV3Module, batch: Any, batch_idx: int) -> None:
        base, momentum = self._weights(module)
        self.records.append({"base": base, "before": momentum, "m": module.current_momentum()})

    def on_train_batch_end(self, trainer: pl.Trainer, module: MoCoV3Module, *args: Any) -> None:
        self.records[-1]["after"] = self._weights(module)[1]


@pytest.mark.parametrize("accumulate", [1, 2])
def test_lightning_updates_the_momentum_encoder_once_per_optimizer_step(accumulate: int) -> None:
    """Under the Trainer the momentum encoder takes one EMA step per iteration, with that iteration's cosine
    momentum, before the forward (so from the base weights the previous optimizer step left)."""
    torch.manual_seed(0)
    views = torch.randn(2, 16, 3, 32, 32)
    batches = [((views[0, i : i + 4], views[1, i : i + 4]), torch.zeros(4)) for i in range(0, 16, 4)]
    datamodule = _ListDataModule(batches)
    module = MoCoV3Module(
        model=_tiny_moco(),
        optimizer=OptimizerFactory(name="adamw", base_lr=0.1, weight_decay=0.0),
        base_momentum=0.9,
    )
    recorder = _MomentumRecorder()
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        accumulate_grad_batches=accumulate,
        callbacks=[recorder],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=datamodule)
    assert trainer.global_step == 4 // accumulate
    updated = []
    for i, record in enumerate(recorder.records):
        if i % accumulate == 0:
            expected = record["m"] * record["before"] + (1 - record["m"]) * record["base"]
            torch.testing.assert_close(record["after"], expected)
            updated.append(i)
        else:
            torch.testing.assert_close(record["after"], record["before"], rtol=0, atol=0)
    assert updated == list(range(0, 4, accumulate))
    assert [r["m"] for r in recorder.records[::accumulate]] == [
        cosine_momentum(step, 4 // accumulate, 0.9) for step in range(4 // accumulate)
    ]
    assert not torch.equal(recorder.records[-1]["base"], recorder.records[0]["base"])  # the base encoder learns


def test_frozen_random_patch_projection() -> None:
    moco = _tiny_moco(stop_grad_conv1=True)
    proj = moco.base_encoder.patch_embed.proj
    assert not proj.weight.requires_grad and not proj.bias.requires_grad
    optimizer = OptimizerFactory(name="adamw", base_lr=1.5e-4, weight_decay=0.1)(moco, global_batch_size=256)
    trained = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert id(proj.weight) not in trained and id(moco.base_encoder.blocks[0].attn.qkv.weight) in trained
    assert not any(id(p) in trained for p in moco.momentum_encoder.parameters())
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1.5e-4)


def test_encoder_initialisation_and_fixed_position_table() -> None:
    torch.manual_seed(0)
    encoder = build_moco_vit("vislite_vit_tiny", img_size=64)
    assert not encoder.pos_embed.requires_grad
    table = moco_sincos_pos_embed(192, (4, 4))
    torch.testing.assert_close(encoder.pos_embed.data, table)
    # The reference's construction: meshgrid(grid_w, grid_h) ("ij"), [sin w, cos w, sin h, cos h], omega over D/4.
    grid_w, grid_h = torch.meshgrid(torch.arange(4.0), torch.arange(4.0), indexing="ij")
    omega = 1.0 / 10000.0 ** (torch.arange(48.0) / 48)
    out_w, out_h = grid_w.flatten()[:, None] * omega, grid_h.flatten()[:, None] * omega
    reference = torch.cat([out_w.sin(), out_w.cos(), out_h.sin(), out_h.cos()], dim=1)
    torch.testing.assert_close(table[0, 1:], reference)
    torch.testing.assert_close(table[0, 0], torch.zeros(192))
    mae = sincos_pos_embed(192, (4, 4))
    torch.testing.assert_close(table[..., :96], mae[..., 96:])  # MAE's table with its halves swapped
    bound = math.sqrt(6.0 / (192 + 192))  # qkv initialised as three separate 192x192 matrices
    qkv = encoder.blocks[0].attn.qkv.weight
    assert bound * 0.98 < qkv.abs().max().item() <= bound
    assert encoder.blocks[0].attn.qkv.bias.abs().max().item() == 0.0
    proj = encoder.patch_embed.proj.weight
    assert proj.abs().max().item() <= math.sqrt(6.0 / (3 * 16 * 16 + 192))
    assert encoder.cls_token.abs().max().item() < 1e-5


# ------------------------------------------------------------------------------------------------ augmentation
def test_byol_asymmetric_pair() -> None:
    pair = byol_view_pair(32)

    def find(view: v2.Compose, kind: type) -> list:
        found = [t for t in view.transforms if isinstance(t, kind)]
        found += [
            (a.p, a.transforms[0])
            for a in view.transforms
            if isinstance(a, v2.RandomApply) and isinstance(a.transforms[0], kind)
        ]
        return found

    (blur_p1, blur), (blur_p2, _) = find(pair.first, v2.GaussianBlur)[0], find(pair.second, v2.GaussianBlur)[0]
    assert (blur_p1, blur_p2, tuple(blur.sigma)) == (1.0, 0.1, (0.1, 2.0))
    assert find(pair.first, v2.RandomSolarize) == []
    (solarize,) = find(pair.second, v2.RandomSolarize)
    assert (solarize.p, solarize.threshold) == (0.2, 128)
    p, jitter = find(pair.first, v2.ColorJitter)[0]
    assert p == 0.8 and jitter.brightness == (0.6, 1.4) and jitter.hue == (-0.1, 0.1)
    assert find(pair.first, v2.RandomGrayscale)[0].p == 0.2
    assert find(pair.second, v2.RandomResizedCrop)[0].scale == (0.08, 1.0)
    image = torch.randint(0, 256, (3, 48, 40), dtype=torch.uint8)
    torch.manual_seed(0)
    one, two = pair(image)
    assert one.shape == two.shape == (3, 32, 32) and one.dtype == torch.float32
    assert not torch.equal(one, two)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small embedded classification world at 32 px (8 classes)."""
    root = tmp_path_factory.mktemp("data") / "world" / "classification"
    return make_classification(root, seed=0, image_size=32, train_per_class=40, val_per_class=12)


def test_two_view_datamodule_batches_and_fixed_validation_views(world: Path) -> None:
    dm = WorldTwoViewDataModule(
        root=world,
        image_size=32,
        train_per_class=40,
        val_per_class=12,
        input_size=32,
        batch_size=8,
        views=byol_view_pair(32),
    )
    dm.setup("fit")
    (view1, view2), labels = next(iter(dm.train_dataloader()))
    assert view1.shape == view2.shape == (8, 3, 32, 32) and labels.shape == (8,)
    assert isinstance(dm.datasets["val"], FixedViews)
    first, second = dm.datasets["val"][3], dm.datasets["val"][3]
    torch.testing.assert_close(first[0][0], second[0][0])
    torch.testing.assert_close(first[0][1], second[0][1])
    with pytest.raises(ValueError, match="views.size"):
        WorldTwoViewDataModule(root=world, input_size=32, batch_size=8, views=byol_view_pair(64))


# ----------------------------------------------------------------------------------------------- checkpoints
def _reference_layout(moco: nn.Module) -> dict[str, torch.Tensor]:
    """The official release's keys: DDP ``module.``, each projector as its encoder's ``head``."""
    return {f"module.{k}": v for k, v in to_reference_keys(moco.state_dict()).items()}


def test_checkpoint_layouts_load_into_classifier_encoder_and_moco(tmp_path: Path) -> None:
    moco = _tiny_moco().eval()
    with torch.no_grad():  # make the momentum branch differ from the base encoder
        for p in moco.momentum_encoder.parameters():
            p.add_(0.5)
    reference = _reference_layout(moco)
    assert "module.base_encoder.head.0.weight" in reference and "module.momentum_encoder.head.6.weight" in reference
    files = {
        "official": {
            "state_dict": reference,
            "optimizer": {"state": {}, "param_groups": []},
            "epoch": 3,
            "arch": "vit_small",
        },
        "mae_lite": {"model": {k.removeprefix("module."): v for k, v in reference.items()}},
        "lightning": {"state_dict": {f"model.{k}": v for k, v in moco.state_dict().items()}, "global_step": 5},
    }
    images = torch.randn(2, 3, 32, 32)
    for name, content in files.items():
        path = tmp_path / f"{name}.pth"
        torch.save(content, path)
        classifier = build_vit_classifier("test_vislite_vit", num_classes=5, img_size=32, init=str(path))
        torch.testing.assert_close(classifier.blocks[2].attn.qkv.weight, moco.base_encoder.blocks[2].attn.qkv.weight)
        assert classifier.head.out_features == 5
        encoder = build_vit_encoder("test_vislite_vit", img_size=32, init=str(path)).eval()
        with torch.no_grad():
            torch.testing.assert_close(encoder(images), moco.base_encoder(images))
        loaded = load_mocov3(path, model=_tiny_moco().eval())
        for key, value in moco.state_dict().items():
            torch.testing.assert_close(loaded.state_dict()[key], value, msg=f"{name}: {key}")


def test_exported_encoder_is_a_plain_timm_state_dict(tmp_path: Path) -> None:
    moco = _tiny_moco().eval()
    path = tmp_path / "encoder.pth"
    export_encoder(moco, path)
    state = safe_load(path)
    assert "cls_token" in state and not any(k.startswith(("head", "base_", "momentum", "predictor")) for k in state)
    model = timm.create_model(
        "test_vislite_vit",
        pretrained=True,
        num_classes=0,
        global_pool="token",
        fc_norm=False,
        pretrained_cfg_overlay=dict(file=str(path), num_classes=0),
    ).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(images), moco.base_encoder(images))


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One intra-op thread: the test's matrices are tiny, and a second thread only adds contention on a busy
    2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------------- configs
def _compose(*overrides: str) -> DictConfig:
    with initialize_config_module(config_module="vislite_pretrain.configs", version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def test_mocov3_in1k_recipe() -> None:
    cfg = _compose("experiment=mocov3_in1k", "data.root=/datasets/imagenet")
    opt, sched, model = cfg.model.optimizer, cfg.model.scheduler, cfg.model.model
    assert (opt.name, opt.base_lr, opt.weight_decay, list(opt.betas)) == ("adamw", 1.5e-4, 0.1, [0.9, 0.999])
    assert opt.decay_all is True  # main_moco.py: AdamW(model.parameters()), biases and norms decayed too
    assert (sched.warmup_epochs, sched.warmup_lr, sched.min_lr) == (40, 1e-6, 0.0)
    assert (cfg.trainer.max_epochs, cfg.data.batch_size, cfg.data.input_size) == (400, 1024, 224)
    assert (model.encoder_name, model.dim, model.mlp_dim, model.temperature) == ("vislite_vit_tiny", 256, 4096, 0.2)
    assert model.stop_grad_conv1 is False
    assert (cfg.model.base_momentum, cfg.model.momentum_cosine, cfg.trainer.sync_batchnorm) == (0.99, True, True)
    views = cfg.data.views
    assert (list(views.scale), list(views.blur_p), list(views.solarize_p)) == ([0.08, 1.0], [1.0, 0.1], [0.0, 0.2])
    assert instantiate(opt).learning_rate(1024) == pytest.approx(6e-4)  # E.3: MoCo-v3 (MAE-Lite) at batch 1024
    assert instantiate(cfg.data.views).size == 224


@pytest.mark.usefixtures("one_thread")
def test_demo_mocov3_trains_through_hydra_and_initialises_finetuning(world: Path, tmp_path: Path) -> None:
    """The demo config at test size, a few steps; its Lightning checkpoint then starts demo_finetune and
    demo_linprobe (pos_embed resized to their grid) with the base encoder's weights."""
    out = tmp_path / "run"
    data_dir = world.parent.parent
    common = [
        f"paths.data_dir={data_dir}",
        "data.image_size=32",
        "data.train_per_class=40",
        "data.val_per_class=12",
        "trainer.precision=32",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "logger=none",
    ]
    cfg = compose_config(
        "vislite_pretrain.configs",
        [
            "experiment=demo_mocov3",
            "model.model.encoder_name=test_vislite_vit",
            "model.model.mlp_dim=64",
            "model.model.dim=16",
            "data.input_size=32",
            "data.batch_size=16",
            "trainer.max_epochs=2",
            "trainer.limit_train_batches=3",
            "trainer.limit_val_batches=2",
            "model.scheduler.warmup_epochs=0",
            f"paths.output_dir={out}",
            *common,
        ],
        output_dir=out,
    )
    metrics = train(cfg)
    GlobalHydra.instance().clear()
    assert torch.isfinite(torch.tensor([metrics["train/loss"], metrics["val/loss"]])).all()
    ckpt = out / "checkpoints" / "last.ckpt"
    saved = safe_load(ckpt)
    assert saved["global_step"] == 6
    moco = load_mocov3(ckpt, model=build_mocov3("test_vislite_vit", img_size=32, dim=16, mlp_dim=64))
    for experiment, init in (("demo_finetune", "model.model.init"), ("demo_linprobe", "model.model.encoder.init")):
        cfg = compose_config(
            "vislite_pretrain.configs",
            [
                f"experiment={experiment}",
                f"{init}={ckpt}",
                "model.model.name=test_vislite_vit"
                if experiment == "demo_finetune"
                else "model.model.encoder.name=test_vislite_vit",
                "data.input_size=48",
                f"paths.output_dir={tmp_path / experiment}",
                *common,
            ],
            output_dir=tmp_path / experiment,
        )
        module = instantiate(cfg.model, _convert_="all")
        GlobalHydra.instance().clear()
        encoder = module.model.encoder if experiment == "demo_linprobe" else module.model
        torch.testing.assert_close(encoder.blocks[3].mlp.fc2.weight, moco.base_encoder.blocks[3].mlp.fc2.weight)
        assert encoder.pos_embed.shape == (1, 1 + 6 * 6, 32)


def _moco_setup(
    root: Path, *, max_epochs: int, logger: Any = False, **world: Any
) -> tuple[WorldTwoViewDataModule, MoCoV3Module, pl.Trainer]:
    """The learning tests' MoCo-v3 run on a world at ``root`` (``world``: its size and variant arguments): test ViT,
    32 px BYOL views, batch 32, AdamW lr 1e-2 x 32/256 with one warm-up epoch; seeded."""
    pl.seed_everything(0)
    dm = WorldTwoViewDataModule(
        root=root,
        image_size=32,
        input_size=32,
        batch_size=32,
        views=byol_view_pair(32, scale=(0.2, 1.0), blur_sigma=(0.015, 0.3)),
        **world,
    )
    module = MoCoV3Module(
        model=build_mocov3("test_vislite_vit", img_size=32, dim=64, mlp_dim=256),
        optimizer=OptimizerFactory(name="adamw", base_lr=1e-2, weight_decay=0.1),
        scheduler=WarmupCosineSchedule(warmup_epochs=1),
    )
    trainer = pl.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        logger=logger,
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    return dm, module, trainer


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_loss_falls_on_the_embedded_world(world: Path) -> None:
    """A few epochs of MoCo-v3 (test ViT, 32 px views) on the world: the training loss falls from the chance
    level ``4T ln N`` and the loss on the held-out images' fixed view pairs falls below its value at init."""
    dm, module, trainer = _moco_setup(
        world, train_per_class=40, val_per_class=12, max_epochs=8, logger=CSVLogger(world.parent.parent, name="moco")
    )
    initial = trainer.validate(module, datamodule=dm, verbose=False)[0]["val/loss"]
    trainer.fit(module, datamodule=dm)
    with open(Path(trainer.logger.log_dir) / "metrics.csv") as handle:
        steps = [row for row in csv.DictReader(handle) if row["train/loss_step"]]
    first, last = float(steps[0]["train/loss_step"]), float(trainer.callback_metrics["train/loss_epoch"])
    chance = 4 * T * math.log(32)
    assert first == pytest.approx(chance, abs=0.3)  # 2.90 measured
    assert last < first - 0.25  # 2.29 measured
    assert float(trainer.callback_metrics["val/loss"]) < initial - 0.25  # 2.92 -> 2.29 measured
    assert float(steps[-1]["train/momentum"]) == pytest.approx(1.0, abs=1e-4)


@pytest.fixture(scope="module")
def flat_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The world's easier variant at 32 px (flat grey backgrounds, the dominant shape alone), 200 training and
    50 held-out images per class: on the standard world at test scale even a supervised test ViT stays near chance
    (18-19% held-out with 40 images a class), so no self-supervised probe could show anything there."""
    root = tmp_path_factory.mktemp("flat") / "world" / "classification"
    return make_classification(
        root, seed=0, image_size=32, train_per_class=200, val_per_class=50, background="flat", max_distractors=0
    )


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_linear_probe_of_the_moco_encoder_beats_chance(flat_world: Path) -> None:
    """15 epochs of MoCo-v3 (test ViT, 32 px BYOL views) on the easier world; then a linear probe on the frozen
    base encoder's class token, fitted on the training images and scored on the 400 held-out ones."""
    dm, module, trainer = _moco_setup(
        flat_world, train_per_class=200, val_per_class=50, max_epochs=15, background="flat", max_distractors=0
    )
    trainer.fit(module, datamodule=dm)
    assert float(trainer.callback_metrics["train/loss_epoch"]) < 4 * T * math.log(32) - 0.3  # chance 2.77

    def features(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        loader = image_loader(flat_world, split, img_size=32, batch_size=100)
        layers, labels = extract_layer_features(module.moco.base_encoder, loader, pool="token", progress=False)
        return layers[:, -1], labels  # the final norm's class token, [N, C]

    (train_x, train_y), (val_x, val_y) = features("train"), features("val")
    decay = select_weight_decay(train_x, train_y, num_classes=8, candidates=(1e-3, 1e-2, 1e-1, 1.0))
    probe = fit_linear_probe(train_x, train_y, num_classes=8, weight_decay=decay)
    top1 = accuracy(probe, val_x, val_y)
    # chance 12.5%; one standard error on 400 images is 1.65 points, so 18% is more than 3 above chance.
    # Measured 22.5% (22-26.5% in three runs scored on 200 held-out images, where the same encoder at
    # initialisation probed at 16-21%).
    print(f"MoCo-v3 probe: top-1 {top1:.3f} on {len(val_y)} held-out images (L2 {decay})")
    assert top1 >= 0.18, top1

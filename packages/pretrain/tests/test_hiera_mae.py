"""Hiera-MAE: reference counts and outputs, mask-unit masking, checkpoints, export and fine-tuning, D-MAE, recipes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import timm
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from vislite_common.checkpoint import CheckpointError
from vislite_common.engine.compose import compose_config
from vislite_common.engine.train import train
from vislite_pretrain.hiera_mae import (
    HieraMAE,
    build_hiera_mae,
    export_encoder,
    load_hiera_mae,
    mae_hiera_base,
    mae_hiera_tiny46,
    mae_test_hiera,
    to_reference_keys,
    to_vislite_keys,
)
from vislite_pretrain.hiera_mae.distill import HieraMAEDistill, build_hiera_teacher
from vislite_pretrain.weights import build_vit_classifier

REFERENCE = json.loads((Path(__file__).parent / "data" / "hiera_mae_reference_figures.json").read_text())
WORLD = {"image_size": 64, "train_per_class": 6, "val_per_class": 2}


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def tiny46() -> HieraMAE:
    torch.manual_seed(0)  # the weights the reference figures were computed with
    return mae_hiera_tiny46()


def mae_test_hiera_seeded() -> HieraMAE:
    torch.manual_seed(0)
    return mae_test_hiera()


@pytest.fixture
def small() -> HieraMAE:
    return mae_test_hiera_seeded()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Data dir holding the embedded classification world at 64 px (the layout the world datamodule reads)."""
    from vislite_common.data.world import make_classification

    data_dir = tmp_path_factory.mktemp("data")
    make_classification(data_dir / "world" / "classification", seed=0, **WORLD)
    return data_dir


def _world_images(data_dir: Path, split: str) -> torch.Tensor:
    from vislite_common.data.classification import ImageFolderDataset
    from vislite_common.data.transforms import build_classification_transform

    dataset = ImageFolderDataset(
        data_dir / "world" / "classification" / split,
        transform=build_classification_transform(input_size=64, is_training=False),
    )
    return torch.stack([dataset[i][0] for i in range(len(dataset))])  # [N, 3, 64, 64], normalised


# ------------------------------------------------------------------------------------------ architecture
def test_parameter_counts(tiny46: HieraMAE) -> None:
    assert _count(tiny46) == 6_973_838  # mae_hiera_tiny_224
    assert _count(tiny46.encoder) == 6_325_966  # Hiera-Tiny(46) without classifier (head.norm = encoder_norm)
    assert tiny46.encoder.q_pool == 2 and tiny46.grid_size == (14, 14) and tiny46.pred_stride == 16
    assert [block.attn.heads for block in tiny46.encoder.blocks[::4]] == [1, 4, 4]
    with torch.device("meta"):  # no memory, no init cost
        assert _count(mae_hiera_base()) == 78_635_648  # the teacher, mae_hiera_base_224
        assert _count(timm.create_model("vislite_hiera_tiny46")) == 6_694_966  # 1000-class fine-tuning model


def test_ratio_04_keeps_29_of_49_mask_units(tiny46: HieraMAE) -> None:
    assert (tiny46.num_mask_units, tiny46.num_visible(), tiny46.num_patches) == (49, 29, 196)
    with torch.no_grad(), tiny46.capture_attention(-1) as logits:
        latent, mask = tiny46.forward_encoder(torch.randn(1, 3, 224, 224), 0.4)
    assert latent.shape == (1, 29, 2, 2, 368)  # 29 visible units of 2x2 tokens at 1/16, 368 wide
    assert mask.sum().item() == 20
    assert logits[11].shape == (1, 8, 116, 116)  # last block: global attention over 29 x 4 visible tokens
    assert tiny46.patch_mask(mask).sum().item() == 80  # 20 removed units x 4 predicted patches
    demo = mae_test_hiera(img_size=96)  # the demo's input: 3x3 units, 5 kept at 0.4
    assert (demo.num_mask_units, demo.num_visible(0.4), demo.num_patches) == (9, 5, 36)


def test_matches_the_reference_implementation(tiny46: HieraMAE) -> None:
    """Loss and predictions of MAE-Lite's own ``hiera_mae.py`` on the same weights, input and mask units."""
    for name, model in (("tiny46", tiny46), ("test", mae_test_hiera_seeded())):
        expected = REFERENCE[name]
        n, size = (1, 224) if name == "tiny46" else (2, 64)
        torch.manual_seed(1)
        images = torch.randn(n, 3, size, size)
        torch.manual_seed(2)
        noise = torch.rand(n, model.num_mask_units)
        model.zero_grad(set_to_none=True)
        with torch.set_grad_enabled(name == "test"):
            loss, pred, mask = model(images, 0.4, noise)
        removed = pred[mask.bool()].detach()  # the reference's pred[mask]: removed patches in raster order
        assert float(loss.detach()) == pytest.approx(expected["loss"], rel=1e-5)
        assert removed.shape[0] == expected["masked_patches"]
        assert float(removed.abs().sum()) == pytest.approx(expected["masked_pred_abs_sum"], rel=1e-5)
        assert float(removed.sum()) == pytest.approx(
            expected["masked_pred_sum"], abs=1e-5 * expected["masked_pred_abs_sum"]
        )
        torch.testing.assert_close(removed[0, :4], torch.tensor(expected["masked_pred_first"]), rtol=1e-4, atol=1e-5)
        if name == "test":
            loss.backward()
            grads = {k: p.grad for k, p in to_reference_keys(dict(model.named_parameters())).items()}
            for key, value in expected["grad_abs_sums"].items():
                assert float(grads[key].abs().sum()) == pytest.approx(value, rel=1e-4), key


# --------------------------------------------------------------------------------------- masking and loss
def test_mask_units_map_to_2x2_patch_blocks(small: HieraMAE) -> None:
    noise = torch.tensor([[0.9, 0.1, 0.8, 0.2]])  # units 1 and 3 (right column) have the smallest noise: kept
    mask = small.random_mask(1, 0.4, noise)
    assert mask.tolist() == [[1.0, 0.0, 1.0, 0.0]]
    expected = torch.kron(mask.view(2, 2), torch.ones(2, 2)).flatten()  # each unit covers 2x2 patches of 16 px
    assert torch.equal(small.patch_mask(mask)[0], expected)


def test_loss_counts_only_the_removed_units(small: HieraMAE) -> None:
    images, noise = torch.randn(2, 3, 64, 64), torch.rand(2, 4)
    _, pred, mask = small(images, 0.4, noise)
    target = small.target(images)
    removed = mask.bool().unsqueeze(-1)  # [N, L, 1]
    exact_where_removed = torch.where(removed, target, torch.randn_like(target) * 100)  # garbage on visible patches
    assert float(small.forward_loss(images, exact_where_removed, mask)) == pytest.approx(0.0, abs=1e-10)
    pred = pred.detach().requires_grad_(True)
    small.forward_loss(images, pred, mask).backward()
    assert pred.grad[~mask.bool()].abs().max() == 0 and pred.grad[mask.bool()].abs().min() > 0
    # norm-pix target with unbiased variance: E[t^2] = (n - 1) / n, the loss of a zero prediction
    zero = small.forward_loss(images, torch.zeros_like(target), mask)
    assert float(zero) == pytest.approx(767 / 768, rel=1e-5)


def test_fixed_noise_is_deterministic(small: HieraMAE) -> None:
    images, noise = torch.randn(2, 3, 64, 64), torch.rand(2, 4)
    with torch.no_grad():
        first, second = small(images, 0.4, noise), small(images, 0.4, noise.clone())
        other = small(images, 0.4, 1 - noise)
    assert float(first[0]) == float(second[0])
    assert torch.equal(first[1], second[1]) and torch.equal(first[2], second[2])
    assert not torch.equal(first[2], other[2])
    with pytest.raises(ValueError, match="noise must have shape"):
        small(images, 0.4, torch.rand(2, 16))


def test_weight_decay_and_layer_ids(small: HieraMAE) -> None:
    from vislite_common.lit.optim import build_param_groups

    groups = build_param_groups(small, weight_decay=0.05)
    no_decay = {id(p) for g in groups if g["weight_decay"] == 0.0 for p in g["params"]}
    for name in ("encoder.pos_embed", "mask_token", "decoder_pos_embed", "encoder.head.norm.weight"):
        assert id(small.get_parameter(name)) in no_decay, name
    assert id(small.get_parameter("multi_scale_fusion_heads.0.weight")) not in no_decay
    ids = small.layer_ids()
    assert ids["encoder.patch_embed.proj.weight"] == ids["mask_token"] == 0
    assert ids["encoder.blocks.3.attn.qkv.weight"] == 4 and ids["decoder_pred.weight"] == 5


def test_loss_falls_on_the_embedded_world(world: Path) -> None:
    """A few hundred images of the embedded world: the held-out reconstruction loss drops well below the
    zero-prediction level (767/768) within 60 steps."""
    train_images, val_images = _world_images(world, "train"), _world_images(world, "val")
    torch.manual_seed(0)
    model = mae_test_hiera()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.95), weight_decay=0.05)
    val_noise = torch.rand(len(val_images), 4, generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(1)

    def val_loss() -> float:
        with torch.no_grad():
            return float(model(val_images, 0.4, val_noise)[0])

    before = val_loss()
    for _ in range(60):
        batch = train_images[torch.randint(0, len(train_images), (16,), generator=generator)]
        loss = model(batch, 0.4)[0]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    after = val_loss()
    assert after < 0.92 * before and after < 0.95


# ------------------------------------------------------------------------------------------- checkpoints
def _released(model: HieraMAE, prefix: str, **siblings: torch.Tensor) -> dict:
    """A checkpoint as MAE-Lite's ``ssl_train`` writes it (the MAE behind its training wrapper's ``model``)."""
    state = {f"{prefix}{k}": v for k, v in to_reference_keys(model.state_dict()).items()}
    return {"start_epoch": 400, "model": {**state, **siblings}, "optimizer": {"state": {}}, "scaler": {}}


def _same_outputs(a: HieraMAE, b: HieraMAE) -> bool:
    images, noise = torch.randn(2, 3, 64, 64), torch.rand(2, 4)
    with torch.no_grad():
        loss_a, pred_a, _ = a(images, 0.4, noise)
        loss_b, pred_b, _ = b(images, 0.4, noise)
    return float(loss_a) == float(loss_b) and torch.equal(pred_a, pred_b)


@pytest.mark.parametrize(
    "layout", ["mae_lite", "mae_lite_ddp", "mae_lite_distill", "hiera_release", "lightning", "lightning_distill"]
)
def test_checkpoint_round_trip(tmp_path: Path, small: HieraMAE, layout: str) -> None:
    reference = to_reference_keys(small.state_dict())
    vislite = small.state_dict()
    teacher = {"tch_model.blocks.0.attn.qkv.weight": torch.zeros(3), "attn_adapter.adapter11.weight": torch.zeros(8)}
    checkpoint = {
        "mae_lite": lambda: _released(small, "model."),
        "mae_lite_ddp": lambda: _released(small, "module.model."),
        "mae_lite_distill": lambda: _released(small, "model.", **teacher),
        "hiera_release": lambda: {"model_state": reference, "epoch": 1600},
        "lightning": lambda: {"state_dict": {f"model.{k}": v for k, v in vislite.items()}, "epoch": 3},
        "lightning_distill": lambda: {
            "state_dict": {
                **{f"model.student.{k}": v for k, v in vislite.items()},
                "model.teacher.encoder.pos_embed": torch.zeros(1),
                "model.adapter.weight": torch.zeros(1),
            }
        },
    }[layout]()
    path = tmp_path / "hiera_mae.pth"
    torch.save(checkpoint, path)
    loaded = load_hiera_mae(path)  # architecture inferred: the test model at 64 px
    assert isinstance(loaded, HieraMAE) and _same_outputs(loaded.eval(), small.eval())
    assert to_reference_keys(to_vislite_keys(reference)) == reference


def test_mismatched_checkpoints_are_named(tmp_path: Path, small: HieraMAE) -> None:
    state = to_reference_keys(small.state_dict())
    del state["multi_scale_fusion_heads.1.weight"]
    path = tmp_path / "broken.pth"
    torch.save({"model": state}, path)
    with pytest.raises(CheckpointError, match="multi_scale_fusion_heads.1.weight"):
        load_hiera_mae(path, model=mae_test_hiera())
    torch.save({"model": {"blocks.0.attn.qkv.weight": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match="cannot infer"):
        load_hiera_mae(path)


# --------------------------------------------------------------------------------- export and fine-tuning
def test_export_loads_strictly_into_timm_hiera_tiny46(tmp_path: Path, tiny46: HieraMAE) -> None:
    path = tmp_path / "hiera_tiny46.pth"
    export_encoder(tiny46, path)
    state = torch.load(path, weights_only=True)
    backbone = timm.create_model("vislite_hiera_tiny46", num_classes=0)  # 3 q-pooling stages, as fine-tuned
    backbone.load_state_dict(state, strict=True)
    torch.testing.assert_close(state["head.norm.weight"], tiny46.encoder.head.norm.weight.detach())
    images = torch.randn(1, 3, 224, 224)
    with torch.no_grad():  # stages 1-2 come before the extra q-pooling: identical features
        ours = tiny46.encoder.forward_intermediates(images, indices=[0, 1], intermediates_only=True)
        theirs = backbone.forward_intermediates(images, indices=[0, 1], intermediates_only=True)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b)
    classifier = timm.create_model(
        "vislite_hiera_tiny46",
        pretrained=True,
        num_classes=10,
        pretrained_cfg_overlay=dict(file=str(path), num_classes=0),
    )
    torch.testing.assert_close(classifier.blocks[11].mlp.fc2.weight, tiny46.encoder.blocks[11].mlp.fc2.weight)


def _finetune_config(data_dir: Path, out: Path, *overrides: str) -> DictConfig:
    return compose_config(
        "vislite_pretrain.configs",
        [
            *(f"data.{k}={v}" for k, v in WORLD.items()),
            "data.input_size=64",
            "data.batch_size=16",
            "trainer=cpu",
            "trainer.precision=32",
            "trainer.max_epochs=1",
            "trainer.enable_model_summary=false",
            "trainer.enable_progress_bar=false",
            "logger=none",
            f"paths.data_dir={data_dir}",
            f"paths.output_dir={out}",
            f"paths.log_dir={out}",
            *overrides,
        ],
        output_dir=out,
    )


def test_demo_pretrains_and_finetunes_through_the_configs(world: Path, tmp_path: Path) -> None:
    """experiment=demo_hiera_mae (test-size encoder) trains through Lightning; its checkpoint initialises the
    existing fine-tuning config's classifier with ``model.model.name`` set to the Hiera."""
    try:
        cfg = _finetune_config(
            world,
            tmp_path / "pre",
            "experiment=demo_hiera_mae",
            "model.model.encoder_name=test_vislite_hiera",
            "trainer.limit_train_batches=2",
            "trainer.limit_val_batches=1",
            "model.scheduler.warmup_epochs=0",
        )
        metrics = train(cfg)
        assert torch.isfinite(torch.tensor(metrics["val/loss"])) and "train/loss" in metrics
        ckpt = tmp_path / "pre" / "checkpoints" / "last.ckpt"
        pretrained = load_hiera_mae(ckpt, model=build_hiera_mae("test_vislite_hiera", img_size=64))
        cfg = _finetune_config(
            world,
            tmp_path / "ft",
            "experiment=demo_finetune",
            "data.num_classes=8",
            "model.model.name=test_vislite_hiera",
            f"model.model.init={ckpt}",
        )
        module = instantiate(cfg.model, _convert_="all")
    finally:
        GlobalHydra.instance().clear()
    classifier = module.model
    torch.testing.assert_close(classifier.blocks[3].attn.qkv.weight, pretrained.encoder.blocks[3].attn.qkv.weight)
    assert classifier.q_pool == 3 and classifier.head.fc.out_features == 8
    groups = module.optimizer_factory(classifier, global_batch_size=1024).param_groups
    assert len({round(g["lr_scale"], 6) for g in groups}) == 6  # 4 blocks + embeddings + head: layer decay 0.85


def test_finetune_builder_refuses_foreign_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "foreign.pth"
    torch.save(timm.create_model("test_vislite_resnet").state_dict(), path)
    with pytest.raises(CheckpointError, match="missing keys"):
        build_vit_classifier("test_vislite_hiera", num_classes=5, img_size=64, init=str(path))
    torch.save(timm.create_model("test_vislite_vit").state_dict(), path)  # a ViT: class-token position table
    with pytest.raises(CheckpointError, match="does not fit Hiera"):
        build_vit_classifier("test_vislite_hiera", num_classes=5, img_size=64, init=str(path))


# --------------------------------------------------------------------------------------------- D-MAE
@pytest.fixture
def teacher_file(tmp_path: Path) -> Path:
    """A small MAE-Hiera teacher (16 wide, last-stage 16 heads) saved as Hiera's release format."""
    torch.manual_seed(7)
    path = tmp_path / "mae_hiera_teacher.pth"
    torch.save({"model_state": to_reference_keys(mae_test_hiera(embed_dim=16, num_heads=2).state_dict())}, path)
    return path


def _distill(teacher_file: Path) -> HieraMAEDistill:
    teacher = build_hiera_teacher(teacher_file, name="test_vislite_hiera", img_size=64, embed_dim=16, num_heads=2)
    torch.manual_seed(0)
    return HieraMAEDistill(student=mae_test_hiera(), teacher=teacher)


def test_distillation_matches_the_teacher_on_the_same_units(teacher_file: Path) -> None:
    model = _distill(teacher_file).train()
    assert not model.teacher.training and not any(p.requires_grad for p in model.teacher.parameters())
    assert model.adapter.weight.shape == (16, 8, 1, 1)  # student's 8 last-stage heads -> teacher's 16
    images, noise = torch.randn(2, 3, 64, 64), torch.rand(2, 4)
    out = model(images, 0.4, noise)
    assert float(out.loss.detach()) == pytest.approx(float((out.reconstruction + out.distillation).detach()), rel=1e-6)
    with torch.no_grad():
        plain_loss, _, _ = model.student(images, 0.4, noise)
        mask = model.student.random_mask(2, 0.4, noise)
        target = model.teacher(images, mask)
    assert float(out.reconstruction.detach()) == pytest.approx(float(plain_loss), rel=1e-6)
    assert target.shape == (2, 16, 8, 8)  # 2 kept units x 2x2 tokens, the same for student and teacher
    out.loss.backward()
    assert (
        model.adapter.weight.grad.abs().sum() > 0 and model.student.encoder.blocks[3].attn.qkv.weight.grad is not None
    )


def test_distillation_loss_falls(teacher_file: Path) -> None:
    model = _distill(teacher_file)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=3e-3, betas=(0.9, 0.95))
    images = torch.randn(8, 3, 64, 64)
    losses = []
    for step in range(40):
        out = model(images, 0.4, torch.rand(8, 4, generator=torch.Generator().manual_seed(step)))
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        losses.append(float(out.distillation.detach()))
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5  # 0.095 -> 0.072


def test_teacher_and_layout_are_checked(teacher_file: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="shape mismatch"):  # the default teacher is Hiera-Base
        build_hiera_teacher(teacher_file, img_size=64)
    incomplete = tmp_path / "incomplete.pth"
    state = torch.load(teacher_file, weights_only=True)["model_state"]
    torch.save({k: v for k, v in state.items() if k != "encoder_norm.weight"}, incomplete)
    with pytest.raises(CheckpointError, match="head.norm.weight"):
        build_hiera_teacher(incomplete, name="test_vislite_hiera", img_size=64, embed_dim=16, num_heads=2)
    teacher = build_hiera_teacher(teacher_file, name="test_vislite_hiera", img_size=64, embed_dim=16, num_heads=2)
    with pytest.raises(ValueError, match="token layout"):
        HieraMAEDistill(student=mae_test_hiera(img_size=128), teacher=teacher)
    with pytest.raises(ValueError, match="mask-unit attention"):
        HieraMAEDistill(student=mae_test_hiera(), teacher=teacher, student_block=0)
    distilled = HieraMAEDistill(student=mae_test_hiera(), teacher=teacher)
    path = tmp_path / "d.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in distilled.state_dict().items()}}, path)
    export_encoder(distilled, tmp_path / "student.pth")
    assert _same_outputs(load_hiera_mae(path).eval(), distilled.student.eval())


# -------------------------------------------------------------------------------------------- recipes
def _recipe(*overrides: str) -> DictConfig:
    try:
        return compose_config(
            "vislite_pretrain.configs", ["data.root=/datasets/imagenet", *overrides], output_dir="/tmp/unused"
        )
    finally:
        GlobalHydra.instance().clear()


def test_hiera_mae_in1k_recipe() -> None:
    cfg = _recipe("experiment=hiera_mae_in1k")
    opt, sched, model = cfg.model.optimizer, cfg.model.scheduler, cfg.model.model
    assert (opt.name, opt.base_lr, opt.eps, opt.weight_decay, list(opt.betas)) == (
        "adamw",
        1.5e-4,
        1e-8,
        0.05,
        [0.9, 0.95],
    )
    assert (sched.warmup_epochs, sched.min_lr, sched.warmup_lr) == (40, 0.0, 0.0)
    assert (cfg.trainer.max_epochs, cfg.data.batch_size, cfg.data.input_size) == (400, 4096, 224)
    assert (list(cfg.data.scale), cfg.data.color_jitter, cfg.data.interpolation) == ([0.08, 1.0], None, "random")
    assert (
        model.encoder_name,
        model.q_pool,
        model.decoder_embed_dim,
        model.decoder_depth,
        model.decoder_num_heads,
    ) == ("vislite_hiera_tiny46", 2, 96, 1, 3)
    assert cfg.model.mask_ratio == 0.4 and model.mask_ratio == 0.4 and model.norm_pix_loss is True
    assert instantiate(opt).learning_rate(4096) == pytest.approx(2.4e-3)


def test_hiera_mae_distill_recipe_builds(teacher_file: Path) -> None:
    cfg = _recipe(
        "experiment=hiera_mae_distill_in1k",
        "data.input_size=64",
        "model.model.student.encoder_name=test_vislite_hiera",
        f"model.model.teacher.path={teacher_file}",
        "model.model.teacher.name=test_vislite_hiera",
        "+model.model.teacher.embed_dim=16",
        "+model.model.teacher.num_heads=2",
    )
    assert (cfg.model.mask_ratio, cfg.model.model.distill_weight, cfg.trainer.max_epochs) == (0.4, 1.0, 400)
    assert (cfg.model.model.student_block, cfg.model.model.teacher_block) == (-1, -1)
    module = instantiate(cfg.model, _convert_="all")
    assert isinstance(module.model, HieraMAEDistill)
    trained = {
        id(p) for g in module.optimizer_factory(module.model, global_batch_size=4096).param_groups for p in g["params"]
    }
    assert not any(id(p) in trained for p in module.model.teacher.parameters())
    images = torch.randn(2, 3, 64, 64)
    assert module.fixed_noise(images, 0).shape == (2, 4)  # noise over mask units

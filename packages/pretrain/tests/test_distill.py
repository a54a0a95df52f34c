"""D-MAE and D²-MAE: frozen teacher on the student's visible tokens, head adapter, decoupled decoder, 12-block
export, released and vislite distillation checkpoints, recipes, and learning on the embedded world."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import timm
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from vislite_common.data.classification import ImageFolderDataset
from vislite_common.data.transforms import build_classification_transform
from vislite_common.data.world import make_classification
from vislite_common.engine.compose import compose_config
from vislite_common.engine.train import train
from vislite_pretrain.analysis.cka import cka
from vislite_pretrain.analysis.features import layer_representations
from vislite_pretrain.distill import (
    DecoupledMAE,
    DistilledMAE,
    HeadAdapter,
    MAETeacher,
    d2mae_test_vit,
    d2mae_vit_tiny_patch16,
    export_student_encoder,
    load_distilled_student,
    load_teacher,
)
from vislite_pretrain.mae_lite import (
    build_mae,
    load_mae_lite,
    mae_test_vit,
    mae_vit_base_patch16,
    mae_vit_tiny_patch16,
    to_reference_keys,
)
from vislite_pretrain.weights import build_vit_classifier, build_vit_encoder

WORLD = dict(seed=0, image_size=32, train_per_class=8, val_per_class=4)


def _test_teacher(seed: int = 0, **kwargs) -> MAETeacher:
    """A random, frozen ``test_vislite_vit`` teacher (32 px, 4 blocks, 4 heads)."""
    torch.manual_seed(seed)
    return MAETeacher(
        encoder=timm.create_model("test_vislite_vit", num_classes=0, global_pool="token", fc_norm=False, **kwargs)
    )


def _reference_release(student: torch.nn.Module, teacher: MAETeacher, adapter: int) -> dict:
    """A distillation checkpoint as MAE-Lite's ``ssl_train`` writes it: the student MAE under ``model.``, the
    teacher encoder under ``tch_model.``, the adapter as ``attn_adapter.adapter<teacher block - 1>``."""
    state = {f"model.{k}": v for k, v in to_reference_keys(student.state_dict()).items()}
    state.update({f"tch_model.{k}": v for k, v in teacher.encoder.state_dict().items()})
    heads = teacher.num_heads()
    state[f"attn_adapter.adapter{adapter}.weight"] = torch.randn(heads, student.encoder.blocks[-1].attn.num_heads, 1, 1)
    return {"start_epoch": 400, "model": state, "optimizer": {"state": {}, "param_groups": []}}


def _same_reconstruction(a: torch.nn.Module, b: torch.nn.Module) -> None:
    images, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    with torch.no_grad():
        loss_a, pred_a, _ = a.eval()(images, 0.75, noise)
        loss_b, pred_b, _ = b.eval()(images, 0.75, noise)
    torch.testing.assert_close(pred_a, pred_b, rtol=0, atol=0)
    assert float(loss_a) == float(loss_b)


# ------------------------------------------------------------------------------------------------ the parts
def test_adapter_maps_student_heads_to_teacher_heads() -> None:
    adapter = HeadAdapter(2, 4)
    assert adapter.weight.shape == (4, 2, 1, 1) and adapter.bias is None
    logits = torch.randn(3, 2, 5, 5)
    out = adapter(logits)  # [N, 4, T, T]: each teacher head a linear mix of student heads, per position
    assert out.shape == (3, 4, 5, 5)
    torch.testing.assert_close(out, torch.einsum("ts,nsij->ntij", adapter.weight[:, :, 0, 0], logits))
    with pytest.raises(ValueError, match=r"\[N, 2, T, T\]"):
        adapter(torch.randn(3, 4, 5, 5))


def test_reference_shapes_at_224() -> None:
    """ViT-Tiny student, 12-head teacher, ratio 0.75: both logits are (B, 12, 50, 50)."""
    torch.manual_seed(0)
    teacher = MAETeacher(
        encoder=timm.create_model("vislite_vit_small", num_classes=0, global_pool="token", fc_norm=False)
    )
    model = DistilledMAE(student=mae_vit_tiny_patch16(), teacher=teacher)
    images = torch.randn(1, 3, 224, 224)
    with torch.no_grad(), model.student.capture_attention(-1) as captured:
        _, mask, _, ids_shuffle = model.student.forward_encoder(images, 0.75)
    target = teacher(images, ids_shuffle, 0.75)
    assert captured[11].shape == target.shape == (1, 12, 50, 50)
    assert model.adapter.weight.shape == (12, 12, 1, 1) and int(mask.sum()) == 147


def test_teacher_is_frozen_and_stays_in_eval() -> None:
    model = DistilledMAE(student=mae_test_vit(num_heads=2), teacher=_test_teacher())
    teacher_before = copy.deepcopy(model.teacher.state_dict())
    assert not any(p.requires_grad for p in model.teacher.parameters())
    model.train()
    assert model.student.training and not any(m.training for m in model.teacher.modules())
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert {id(p) for p in trainable} == {
        id(p) for p in (*model.student.parameters(), *model.adapter.parameters()) if p.requires_grad
    }
    optimizer = torch.optim.AdamW(trainable, lr=1e-2)
    out = model(torch.randn(4, 3, 32, 32))
    out.loss.backward()
    optimizer.step()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert model.adapter.weight.grad is not None and model.student.encoder.blocks[-1].attn.qkv.weight.grad is not None
    for key, value in model.teacher.state_dict().items():
        assert torch.equal(value, teacher_before[key]), key


def test_teacher_sees_the_students_visible_tokens() -> None:
    """A teacher that is a copy of the student's encoder, compared without an adapter, matches it exactly on the
    same mask -- and not on another one."""
    torch.manual_seed(0)
    student = mae_test_vit()
    teacher = MAETeacher(encoder=copy.deepcopy(student.encoder))
    model = DistilledMAE(student=student, teacher=teacher, use_adapter=False, distill_weight=0.5)
    images, noise = torch.randn(3, 3, 32, 32), torch.rand(3, 16)
    with torch.no_grad():
        out = model(images, 0.75, noise)
        assert float(out.distillation) < 1e-10
        assert float(out.loss) == pytest.approx(float(out.reconstruction))
        other = teacher(images, torch.argsort(torch.rand(3, 16), dim=1), 0.75)  # another mask
        with student.capture_attention(-1) as captured:
            student.forward_encoder(images, 0.75, noise)
    assert other.shape == captured[3].shape == (3, 4, 5, 5)  # 4 heads, class token + 4 visible patches
    assert float(model.distillation_loss(captured[3], other)) > 1e-4


def test_loss_is_reconstruction_plus_weighted_mse_of_adapted_logits() -> None:
    model = DistilledMAE(student=mae_test_vit(num_heads=2), teacher=_test_teacher(), distill_weight=2.0)
    images, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    with torch.no_grad():
        out = model(images, 0.75, noise)
        with model.student.capture_attention(-1) as captured:
            _, _, _, ids_shuffle = model.student.forward_encoder(images, 0.75, noise)
        target = model.teacher(images, ids_shuffle, 0.75)
        expected = (model.adapter(captured[3]) - target).square().mean()
        reconstruction, _, _ = model.student(images, 0.75, noise)
    torch.testing.assert_close(out.distillation, expected)
    torch.testing.assert_close(out.reconstruction, reconstruction)
    torch.testing.assert_close(out.loss, reconstruction + 2.0 * expected)


def test_mismatched_teacher_and_student_are_refused() -> None:
    with pytest.raises(ValueError, match="same patches"):
        DistilledMAE(student=mae_test_vit(img_size=48), teacher=_test_teacher())
    with pytest.raises(ValueError, match="equal head counts"):
        DistilledMAE(student=mae_test_vit(num_heads=2), teacher=_test_teacher(), use_adapter=False)
    model = DistilledMAE(student=mae_test_vit(), teacher=_test_teacher())
    with pytest.raises(NotImplementedError, match="checkpointing"):
        model.set_grad_checkpointing(True)
    model.student.set_grad_checkpointing(True)
    with pytest.raises(NotImplementedError, match="checkpointing"):
        model(torch.randn(1, 3, 32, 32))


# ----------------------------------------------------------------------------------------------------- D²-MAE
def test_mae_base_teacher_parameter_count() -> None:
    """The reference's teacher, ``mae_vit_base_patch16`` with its 8-block decoder: 111,907,840 parameters; its
    encoder is what ``load_teacher``'s default ``vislite_vit_base`` holds."""
    teacher = mae_vit_base_patch16()
    assert sum(p.numel() for p in teacher.parameters()) == 111_907_840
    encoder = timm.create_model("vislite_vit_base", num_classes=0, global_pool="token", fc_norm=False)
    assert set(encoder.state_dict()) == {
        k.removeprefix("encoder.") for k in teacher.state_dict() if k.startswith("encoder.")
    }


def test_d2_student_shape_parameter_count_and_inferred_loading(tmp_path: Path) -> None:
    """MAE-Lite's mae_vit_tiny_d13_patch16 after deleting block 13's proj, norm2 and mlp: 5,803,296 trainable;
    a released D²-MAE ViT-Tiny checkpoint is recognised by its probe block."""
    torch.manual_seed(0)
    model = d2mae_vit_tiny_patch16()
    assert len(model.encoder.blocks) == 13 and model.kept_depth == 12 and model.decode_depth == 8
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 5_803_296
    full = build_mae("vislite_vit_tiny", depth=13)  # before block 13 loses proj, norm2 and mlp
    assert sum(p.numel() for p in full.parameters()) == 6_193_344
    assert sorted(model.encoder.blocks[12].state_dict()) == [
        "attn.qkv.bias",
        "attn.qkv.weight",
        "norm1.bias",
        "norm1.weight",
    ]
    path = tmp_path / "d2.pth"
    torch.save({"model": {f"model.{k}": v for k, v in to_reference_keys(model.state_dict()).items()}}, path)
    loaded = load_distilled_student(path)
    assert isinstance(loaded, DecoupledMAE) and len(loaded.encoder.blocks) == 13 and loaded.decode_depth == 8
    assert torch.equal(loaded.encoder.blocks[12].attn.qkv.weight, model.encoder.blocks[12].attn.qkv.weight)


def test_d2_decoder_reads_the_tapped_block_and_the_rest_learns_from_distillation() -> None:
    torch.manual_seed(0)
    student = d2mae_test_vit()  # 5 blocks (4 kept), decoder on block 3
    model = DistilledMAE(student=student, teacher=_test_teacher())
    images, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    enc = student.encoder
    with torch.no_grad():
        latent, _, _, _ = student.forward_encoder(images, 0.75, noise)
        all_patches = student.forward_encoder(images, 0.0, torch.arange(16.0).expand(2, 16))[0]  # in patch order
        cls = (enc.cls_token + enc.pos_embed[:, :1]).expand(2, -1, -1)
        tokens = torch.cat([cls, enc.patch_embed(images) + enc.pos_embed[:, 1:]], dim=1)  # [2, 17, 32]
        torch.testing.assert_close(all_patches, enc.norm(enc.blocks[:3](tokens)), atol=1e-5, rtol=1e-5)
    assert latent.shape == (2, 5, 32)  # class token + 4 visible patches

    out = model(images, 0.75, noise)
    tail = [p for block in enc.blocks[3:] for p in block.parameters()]
    assert all(g is None for g in torch.autograd.grad(out.reconstruction, tail, allow_unused=True))
    grads = torch.autograd.grad(out.distillation, tail, allow_unused=True)
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(g is not None for g in torch.autograd.grad(out.reconstruction, list(enc.blocks[2].parameters())))

    with torch.no_grad():
        before = student(images, 0.75, noise)[0]
        for p in tail:
            p.add_(1.0)
        assert float(student(images, 0.75, noise)[0]) == float(before)  # later blocks cannot change it


def test_d2_export_has_12_blocks_and_loads_into_vislite_vit_tiny(tmp_path: Path) -> None:
    torch.manual_seed(0)
    student = d2mae_vit_tiny_patch16().eval()
    with torch.no_grad():
        student.encoder.blocks[12].norm1.weight.uniform_(0.5, 1.5)  # tell the probe's norm from the MAE's
    path = tmp_path / "vit_tiny_d2mae.pth"
    exported = export_student_encoder(student, path)
    assert {int(k.split(".")[1]) for k in exported if k.startswith("blocks.")} == set(range(12))
    torch.testing.assert_close(exported["norm.weight"], student.encoder.blocks[12].norm1.weight)

    vit = timm.create_model(
        "vislite_vit_tiny",
        pretrained=True,
        pretrained_cfg_overlay=dict(file=str(path), num_classes=0),
        num_classes=0,
        global_pool="token",
        fc_norm=False,
    ).eval()  # strict
    assert set(vit.state_dict()) == set(exported) and len(vit.blocks) == 12
    images = torch.randn(1, 3, 224, 224)
    enc = student.encoder
    with torch.no_grad():
        tokens = enc.patch_embed(images) + enc.pos_embed[:, 1:]
        tokens = torch.cat([enc.cls_token + enc.pos_embed[:, :1], tokens], dim=1)  # [1, 197, 192]
        expected = enc.blocks[12].norm1(enc.blocks[:12](tokens))
        torch.testing.assert_close(vit.forward_features(images), expected, atol=1e-5, rtol=1e-5)
    classifier = timm.create_model(
        "vislite_vit_tiny", pretrained=True, num_classes=5, pretrained_cfg_overlay=dict(file=str(path), num_classes=0)
    )
    torch.testing.assert_close(classifier.blocks[11].mlp.fc2.weight, enc.blocks[11].mlp.fc2.weight)


# ------------------------------------------------------------------------------------------------ checkpoints
def test_released_dmae_checkpoint_loads(tmp_path: Path) -> None:
    torch.manual_seed(0)
    student = mae_test_vit().eval()
    path = tmp_path / "mae_tiny_distill_400e.pth.tar"
    torch.save(_reference_release(student, _test_teacher(), adapter=3), path)
    _same_reconstruction(load_mae_lite(path), student)
    _same_reconstruction(load_distilled_student(path), student)
    classifier = build_vit_classifier("test_vislite_vit", num_classes=5, img_size=32, init=str(path))
    torch.testing.assert_close(classifier.blocks[3].attn.qkv.weight, student.encoder.blocks[3].attn.qkv.weight)


def test_released_d2mae_checkpoint_loads(tmp_path: Path) -> None:
    torch.manual_seed(0)
    student = d2mae_test_vit().eval()
    path = tmp_path / "mae_tiny_d2_distill_400e.pth.tar"
    torch.save(_reference_release(student, _test_teacher(), adapter=3), path)
    assert "model.blocks.4.attn.qkv.weight" in torch.load(path, weights_only=True)["model"]
    _same_reconstruction(load_distilled_student(path, model=d2mae_test_vit()), student)

    encoder = build_vit_encoder("test_vislite_vit", img_size=32, init=str(path))  # 4 kept blocks
    probe = student.encoder.blocks[4]
    torch.testing.assert_close(encoder.norm.weight, probe.norm1.weight)
    torch.testing.assert_close(encoder.blocks[3].mlp.fc1.weight, student.encoder.blocks[3].mlp.fc1.weight)
    classifier = build_vit_classifier("test_vislite_vit", num_classes=5, img_size=32, init=str(path))
    assert len(classifier.blocks) == 4


def test_vislite_distillation_checkpoint_loads(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = DistilledMAE(student=d2mae_test_vit(), teacher=_test_teacher()).eval()
    assert {k.split(".", 1)[0] for k in model.state_dict()} == {"student", "teacher", "adapter"}
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}, "epoch": 1}, path)
    _same_reconstruction(load_mae_lite(path, model=d2mae_test_vit()), model.student)
    encoder = build_vit_encoder("test_vislite_vit", img_size=32, init=str(path))
    torch.testing.assert_close(encoder.norm.weight, model.student.encoder.blocks[4].norm1.weight)


@pytest.mark.parametrize("layout", ["mae_full", "mae_encoder", "vislite_lightning", "timm_export"])
def test_teacher_loads_from_local_checkpoints(tmp_path: Path, layout: str) -> None:
    torch.manual_seed(0)
    mae = mae_test_vit()
    reference = to_reference_keys(mae.state_dict())
    path = tmp_path / "teacher.pth"
    if layout == "mae_full":  # MAE / MAE-Lite release with its decoder
        torch.save({"model": reference, "epoch": 1599}, path)
    elif layout == "mae_encoder":  # MAE's encoder-only release
        torch.save({"model": {k: v for k, v in reference.items() if not k.startswith(("decoder", "mask"))}}, path)
    elif layout == "vislite_lightning":
        torch.save({"state_dict": {f"model.{k}": v for k, v in mae.state_dict().items()}}, path)
    else:
        export_student_encoder(mae, path)
    teacher = load_teacher(path, name="test_vislite_vit", img_size=32)
    for key, value in mae.encoder.state_dict().items():
        assert torch.equal(teacher.encoder.state_dict()[key], value), key
    larger = load_teacher(path, name="test_vislite_vit", img_size=48)  # sin-cos table regenerated for 6x6
    assert larger.grid_size == (6, 6)
    assert torch.equal(larger.encoder.pos_embed, mae_test_vit(img_size=48).encoder.pos_embed)


# ---------------------------------------------------------------------------------------------------- configs
def _compose(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="vislite_pretrain.configs", version_base="1.3"):
        return compose(config_name="train", overrides=["data.root=/datasets/imagenet", *overrides])


@pytest.mark.parametrize("experiment", ["dmae_in1k", "d2mae_in1k"])
def test_distillation_recipes(experiment: str) -> None:
    cfg = _compose(f"experiment={experiment}", "model.model.teacher.path=/ckpt/mae_pretrain_vit_base.pth")
    opt, sched, distill = cfg.model.optimizer, cfg.model.scheduler, cfg.model.model
    assert (opt.name, opt.base_lr, opt.eps, opt.weight_decay, list(opt.betas)) == (
        "adamw",
        1.5e-4,
        1e-8,
        0.05,
        [0.9, 0.95],
    )
    assert (sched.warmup_epochs, sched.min_lr, cfg.trainer.max_epochs, cfg.data.batch_size) == (40, 0.0, 400, 4096)
    assert (list(cfg.data.scale), cfg.data.interpolation, cfg.model.mask_ratio) == ([0.08, 1.0], "random", 0.75)
    assert (distill.teacher.name, distill.distill_weight, distill.use_adapter) == ("vislite_vit_base", 1.0, True)
    assert (distill.student_block, distill.teacher_block) == (-1, -1)
    student = distill.student
    assert (student.encoder_name, student.decoder_embed_dim, student.decoder_depth, student.norm_pix_loss) == (
        "vislite_vit_tiny",
        96,
        1,
        True,
    )
    if experiment == "d2mae_in1k":
        assert (student.depth, student.decode_depth) == (13, 8)


def test_d2_config_builds_at_test_size(tmp_path: Path) -> None:
    path = tmp_path / "teacher.pth"
    export_student_encoder(mae_test_vit(), path)
    cfg = _compose(
        "experiment=d2mae_in1k",
        "data.input_size=32",
        f"model.model.teacher.path={path}",
        "model.model.teacher.name=test_vislite_vit",
        "model.model.student.encoder_name=test_vislite_vit",
        "model.model.student.depth=5",
        "model.model.student.decode_depth=3",
        "model.model.student.decoder_embed_dim=32",
        "model.model.student.decoder_num_heads=2",
    )
    module = instantiate(cfg.model, _convert_="all")
    assert isinstance(module.model.student, DecoupledMAE) and len(module.model.student.encoder.blocks) == 5
    optimizer = module.optimizer_factory(module.model, global_batch_size=4096)
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not optimized & {id(p) for p in module.model.teacher.parameters()}
    assert id(module.model.adapter.weight) in optimized
    assert optimizer.param_groups[0]["lr"] == pytest.approx(2.4e-3)


# ------------------------------------------------------------------------------------------ the embedded world
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Data dir with a small embedded classification world (32 px, 8 classes x 8 train images)."""
    data_dir = tmp_path_factory.mktemp("data")
    make_classification(data_dir / "world" / "classification", **WORLD)
    return data_dir


def _world_images(data_dir: Path) -> torch.Tensor:
    transform = build_classification_transform(input_size=32, is_training=False)
    dataset = ImageFolderDataset(data_dir / "world" / "classification" / "train", transform=transform)
    return torch.stack([dataset[i][0] for i in range(len(dataset))])  # [64, 3, 32, 32]


def test_demo_dmae_trains_through_hydra(world: Path, tmp_path: Path) -> None:
    """The demo config with a test-size student and a teacher checkpoint given by an override, one short epoch;
    its Lightning checkpoint then initialises a classifier."""
    teacher_path = tmp_path / "teacher.ckpt"
    torch.manual_seed(0)
    torch.save({"state_dict": {f"model.{k}": v for k, v in mae_test_vit().state_dict().items()}}, teacher_path)
    out = tmp_path / "run"
    cfg = compose_config(
        "vislite_pretrain.configs",
        [
            "experiment=demo_dmae",
            f"model.model.teacher.path={teacher_path}",
            "model.model.teacher.name=test_vislite_vit",
            "model.model.student.encoder_name=test_vislite_vit",
            "model.model.student.decoder_embed_dim=32",
            "model.model.student.decoder_num_heads=2",
            f"paths.data_dir={world}",
            f"paths.output_dir={out}",
            "data.image_size=32",
            "data.input_size=32",
            f"data.train_per_class={WORLD['train_per_class']}",
            f"data.val_per_class={WORLD['val_per_class']}",
            "data.batch_size=16",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=3",
            "trainer.precision=32",
            "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false",
            "logger=none",
            "model.scheduler.warmup_epochs=0",
        ],
        output_dir=out,
    )
    metrics = train(cfg)
    GlobalHydra.instance().clear()
    for name in ("train/loss", "train/recon", "train/distill", "val/loss", "val/recon", "val/distill"):
        assert torch.isfinite(torch.tensor(metrics[name])), name
    assert metrics["val/loss"] == pytest.approx(metrics["val/recon"] + metrics["val/distill"], rel=1e-5)
    classifier = build_vit_classifier(
        "test_vislite_vit", num_classes=8, img_size=32, init=str(out / "checkpoints" / "last.ckpt")
    )
    assert classifier.head.out_features == 8


@pytest.mark.slow
def test_distillation_loss_falls_and_last_layer_cka_to_the_teacher_rises(world: Path, tmp_path: Path) -> None:
    """A tiny teacher pre-trained briefly (MAE-lite on the world) and loaded from its checkpoint; a 2-head student
    trained with D-MAE: the distillation loss falls and the last layer's CKA to the teacher rises."""
    images = _world_images(world)
    generator = torch.Generator().manual_seed(0)

    def fit(model: torch.nn.Module, steps: int, lr: float) -> None:
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=0.05)
        for _ in range(steps):
            out = model(images[torch.randint(0, len(images), (32,), generator=generator)])
            loss = out[0]  # (loss, pred, mask) or DistillOutput
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    torch.manual_seed(0)
    teacher_mae = mae_test_vit()
    fit(teacher_mae, 60, 2e-3)
    path = tmp_path / "teacher.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in teacher_mae.state_dict().items()}}, path)
    teacher = load_teacher(path, name="test_vislite_vit", img_size=32)

    torch.manual_seed(1)
    model = DistilledMAE(student=mae_test_vit(num_heads=2), teacher=teacher)
    noise = torch.rand(len(images), 16, generator=torch.Generator().manual_seed(1))

    @torch.no_grad()
    def measure() -> tuple[float, float]:
        model.eval()
        distillation = float(model(images, 0.75, noise).distillation)
        student_last = layer_representations(model.student.encoder, images)[-1]  # final norm, patch tokens
        teacher_last = layer_representations(teacher.encoder, images)[-1]
        model.train()
        return distillation, cka(student_last, teacher_last)

    distill_before, cka_before = measure()
    fit(model, 60, 1e-3)
    distill_after, cka_after = measure()
    assert distill_after < 0.7 * distill_before, (distill_before, distill_after)
    assert cka_after > cka_before + 0.2, (cka_before, cka_after)

"""Analysis tools: attention distance / entropy identities, CKA identities, norm1 features, probes, loading, CLI."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import timm
import torch

from vislite_common.checkpoint import CheckpointError
from vislite_common.data.world import make_classification
from vislite_pretrain.analysis.attention import (
    attention_statistics,
    cls_attention_maps,
    distance_scale,
    entropy_and_distance,
    patch_distances,
)
from vislite_pretrain.analysis.cka import MinibatchCKA, cka, gram, layer_cka, unbiased_hsic
from vislite_pretrain.analysis.cli import run
from vislite_pretrain.analysis.features import capture_norm1, layer_representations, num_layers
from vislite_pretrain.analysis.models import load_vit
from vislite_pretrain.analysis.probes import WEIGHT_DECAYS, fit_linear_probe, layerwise_probe, select_weight_decay
from vislite_pretrain.distill import DistilledMAE, MAETeacher, d2mae_test_vit
from vislite_pretrain.mae_lite import MaskedAutoencoderViT, export_encoder, mae_test_vit, to_reference_keys
from vislite_pretrain.mocov3 import build_mocov3

GRID_MEAN_DISTANCE_14 = 7.28076  # mean pairwise patch distance on a 14 x 14 grid (reference/pretrain.md E.3)


def _vit(**kwargs: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model("test_vislite_vit", num_classes=0, global_pool="token", fc_norm=False, **kwargs).eval()


def _uniform_attention(model: torch.nn.Module) -> torch.nn.Module:
    """Zero q and k everywhere, so every block's logits are all zero."""
    with torch.no_grad():
        for block in model.blocks:
            block.attn.qkv.weight.zero_()
            block.attn.qkv.bias.zero_()
    return model


# ------------------------------------------------------------------------------------------ attention statistics
def test_uniform_attention_on_14x14_grid_gives_reference_figures() -> None:
    logits = torch.zeros(2, 3, 197, 197)  # cls + 196 patches
    entropy, reference = entropy_and_distance(logits, patch_distances((14, 14), 14.0))
    _, pixels = entropy_and_distance(logits, patch_distances((14, 14), 16.0))
    _, patches = entropy_and_distance(logits, patch_distances((14, 14), 1.0))
    assert entropy.shape == (2, 3)
    torch.testing.assert_close(entropy, torch.full((2, 3), math.log(196)), atol=1e-3, rtol=0)
    assert float(reference[0, 0]) == pytest.approx(101.93, abs=5e-3)
    assert float(pixels[1, 2]) == pytest.approx(116.49, abs=5e-3)
    assert float(patches[0, 1]) == pytest.approx(GRID_MEAN_DISTANCE_14, abs=1e-5)
    assert distance_scale("reference", 8) == 14.0 and distance_scale("pixels", 8) == 8.0
    with pytest.raises(ValueError, match="distance unit must be one of"):
        distance_scale("metres", 16)


def test_class_token_is_dropped_before_the_softmax() -> None:
    # Each patch attends to itself (logit 30), and the class token column would dominate (logit 100) if kept.
    logits = 30.0 * torch.eye(5).expand(1, 2, 5, 5).clone()
    logits[..., 0] = 100.0
    entropy, distance = entropy_and_distance(logits, patch_distances((2, 2), 14.0))
    assert float(distance.max()) < 1e-6
    assert float(entropy.max()) < 1e-3
    # uniform over a 2 x 2 grid: distances 0, 1, 1, sqrt(2) from every patch
    _, uniform = entropy_and_distance(torch.zeros(1, 1, 5, 5), patch_distances((2, 2), 1.0))
    assert float(uniform) == pytest.approx((2 + math.sqrt(2)) / 4)


def test_model_with_zero_logits_gives_uniform_statistics() -> None:
    model = _uniform_attention(_vit(img_size=112))  # patch 8 -> 14 x 14 grid
    batches = [torch.randn(2, 3, 112, 112), torch.randn(1, 3, 112, 112)]
    stats = attention_statistics(model, batches, unit="reference", progress=False)
    assert stats.entropy.shape == (4, 4) and stats.num_images == 3
    torch.testing.assert_close(stats.entropy, torch.full((4, 4), math.log(196), dtype=torch.float64), atol=1e-3, rtol=0)
    torch.testing.assert_close(stats.distance, torch.full((4, 4), 101.93, dtype=torch.float64), atol=5e-3, rtol=0)
    pixels = attention_statistics(model, batches, unit="pixels", progress=False)
    assert float(pixels.distance.mean()) == pytest.approx(8 * GRID_MEAN_DISTANCE_14, abs=1e-4)


def test_statistics_average_every_image_of_every_batch() -> None:
    model = _vit()
    images = torch.randn(5, 3, 32, 32)
    stats = attention_statistics(model, [images[:3], images[3:]], unit="patches", progress=False)
    distances = patch_distances((4, 4))
    with torch.no_grad(), model.capture_attention([0, 1, 2, 3]) as logits:
        model.forward_features(images)
    for layer in range(4):
        entropy, distance = entropy_and_distance(logits[layer], distances)  # [5, heads]
        torch.testing.assert_close(stats.entropy[layer], entropy.double().mean(dim=0))
        torch.testing.assert_close(stats.distance[layer], distance.double().mean(dim=0))
    assert not torch.allclose(stats.distance[0], stats.distance[0].mean().expand(4))  # heads differ


def test_cls_attention_maps() -> None:
    model = _vit()
    images = torch.randn(2, 3, 32, 32)
    maps = cls_attention_maps(model, images, [0, -1])
    assert sorted(maps) == [0, 3] and maps[3].shape == (2, 4, 4, 4)  # [B, heads, rows, cols]
    assert float(maps[3].sum(dim=(2, 3)).max()) < 1.0  # the class token's own share is left out
    uniform = cls_attention_maps(_uniform_attention(_vit()), images, [1])[1]
    torch.testing.assert_close(uniform, torch.full_like(uniform, 1 / 17))
    with pytest.raises(IndexError, match="layers must lie"):
        cls_attention_maps(model, images, [4])


# ------------------------------------------------------------------------------------------------------------ CKA
def _hsic_equation_3(kernel_x: torch.Tensor, kernel_y: torch.Tensor) -> float:
    """Nguyen et al. (2021) Eq. 3, written out term by term."""
    n = kernel_x.shape[0]
    k, m = kernel_x.clone().fill_diagonal_(0), kernel_y.clone().fill_diagonal_(0)
    ones = torch.ones(n, 1, dtype=k.dtype)
    value = torch.trace(k @ m)
    value += (ones.T @ k @ ones @ ones.T @ m @ ones).item() / ((n - 1) * (n - 2))
    value -= 2.0 * (ones.T @ k @ m @ ones).item() / (n - 2)
    return float(value / (n * (n - 3)))


def test_unbiased_hsic_matches_equation_3() -> None:
    torch.manual_seed(0)
    xs = [torch.randn(10, 7), torch.randn(10, 3, 5)]
    ys = [torch.randn(10, 4), torch.randn(10, 6) ** 2, torch.randn(10, 2, 2)]
    hsic = unbiased_hsic(torch.stack([gram(x) for x in xs]), torch.stack([gram(y) for y in ys]))
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            fx, fy = x.reshape(10, -1).double(), y.reshape(10, -1).double()
            assert float(hsic[i, j]) == pytest.approx(_hsic_equation_3(fx @ fx.T, fy @ fy.T), rel=1e-9)


def test_cka_identities() -> None:
    torch.manual_seed(0)
    x = torch.randn(32, 6, 10)  # 32 examples, 6 tokens x 10 channels
    q, _ = torch.linalg.qr(torch.randn(60, 60, dtype=torch.float64))  # orthogonal
    assert cka(x, 3 * x.reshape(32, -1).double() @ q) == pytest.approx(1.0, abs=1e-9)
    assert cka(x, x) == pytest.approx(1.0, abs=1e-9)
    assert abs(cka(x, torch.randn(32, 60))) < 0.1
    assert 0.2 < cka(x, x.reshape(32, -1)[:, :30]) < 1.0


def test_minibatch_cka_averages_hsic_before_the_ratio() -> None:
    torch.manual_seed(1)
    batches = [(torch.randn(n, 8), torch.randn(n, 5)) for n in (6, 9)]
    batches = [(x, torch.cat([x[:, :3], y], dim=1)) for x, y in batches]  # partly shared features
    accumulator = MinibatchCKA(1, 1)
    hsic = torch.zeros(3, dtype=torch.float64)
    for x, y in batches:
        accumulator.update([x], [y])
        kx, ky = x.double() @ x.double().T, y.double() @ y.double().T
        pairs = [(kx, ky), (kx, kx), (ky, ky)]
        hsic += torch.tensor([_hsic_equation_3(a, b) for a, b in pairs], dtype=torch.float64)
    expected = hsic[0] / (hsic[1] * hsic[2]).sqrt()  # the 1/num_batches factors cancel
    assert float(accumulator.compute()[0, 0]) == pytest.approx(float(expected), rel=1e-9)
    with pytest.raises(ValueError, match="at least 4"):
        MinibatchCKA(1, 1).update([torch.randn(3, 2)], [torch.randn(3, 2)])


def test_random_features_of_many_minibatches_have_cka_near_zero() -> None:
    torch.manual_seed(2)
    accumulator = MinibatchCKA(1, 1)
    for _ in range(20):
        accumulator.update([torch.randn(32, 64)], [torch.randn(32, 64)])
    assert abs(float(accumulator.compute()[0, 0])) < 0.03


# ------------------------------------------------------------------------------------------------------ features
def test_layers_are_norm1_outputs_then_the_final_norm() -> None:
    model = _vit()
    images = torch.randn(3, 3, 32, 32)
    layers = layer_representations(model, images)
    assert len(layers) == num_layers(model) == 5
    assert all(tokens.shape == (3, 16, 32) for tokens in layers)  # class token dropped
    with torch.no_grad():
        embedded = model._pos_embed(model.patch_embed(images))  # [3, 17, 32]
        torch.testing.assert_close(layers[0], model.blocks[0].norm1(embedded)[:, 1:])
        hidden = model.blocks[:2](embedded)
        torch.testing.assert_close(layers[2], model.blocks[2].norm1(hidden)[:, 1:])
        torch.testing.assert_close(layers[4], model.norm(model.blocks(embedded))[:, 1:])
        with capture_norm1(model, "input") as inputs:
            model.forward_features(images)
    torch.testing.assert_close(inputs[2], hidden)


def test_pooling_classifier_uses_fc_norm_token_wise_as_last_layer() -> None:
    torch.manual_seed(0)
    model = timm.create_model("test_vislite_vit", num_classes=0).eval()  # global average pooling + fc_norm
    with torch.no_grad():
        model.fc_norm.weight.mul_(3)
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model.fc_norm(model.forward_features(images))[:, 1:]
    torch.testing.assert_close(layer_representations(model, images)[-1], expected)


def test_layer_cka_of_a_model_with_itself_has_a_unit_diagonal() -> None:
    model = _vit()
    batches = [torch.randn(6, 3, 32, 32), torch.randn(5, 3, 32, 32), torch.randn(2, 3, 32, 32)]  # last is skipped
    matrix = layer_cka(model, model, batches, progress=False)
    assert matrix.shape == (5, 5)
    torch.testing.assert_close(matrix.diagonal(), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(matrix, matrix.T)
    shallow = _vit(depth=2)
    assert layer_cka(model, shallow, batches, progress=False).shape == (5, 3)


# ------------------------------------------------------------------------------------------------------- probes
def test_linear_probe_separates_separable_classes_and_not_random_labels() -> None:
    torch.manual_seed(0)
    centres = 4 * torch.randn(3, 16)
    labels = torch.arange(3).repeat(40)
    x = centres[labels] + torch.randn(120, 16) + 50  # offset: the probe standardises its inputs
    probe = fit_linear_probe(x[:90], labels[:90], num_classes=3, max_iter=50)
    assert float((probe(x[90:]).argmax(1) == labels[90:]).float().mean()) > 0.95
    noise = torch.randn(120, 3, 16)  # 3 "layers"
    shuffled = labels[torch.randperm(120)]
    result = layerwise_probe(
        (noise[:90], shuffled[:90]),
        (noise[90:], shuffled[90:]),
        num_classes=3,
        weight_decay=(1e-2, 1.0),
        max_iter=50,
        progress=False,
    )
    assert len(result.val_acc) == 3 and max(result.val_acc) < 0.7
    assert len(result.weight_decay) == 3 and set(result.weight_decay) <= {1e-2, 1.0}


def test_penalty_is_chosen_on_held_out_training_examples() -> None:
    torch.manual_seed(0)
    labels = torch.arange(2).repeat(100)
    x = torch.randn(200, 100)
    x[:, :5] += 0.5 * (2 * labels[:, None] - 1)  # 5 weakly informative features among 100
    assert select_weight_decay(x, labels, num_classes=2, candidates=[0.5]) == 0.5
    chosen = select_weight_decay(x, labels, num_classes=2, candidates=WEIGHT_DECAYS, max_iter=50)
    assert chosen > min(WEIGHT_DECAYS)  # the weakest penalty overfits the noise


# ------------------------------------------------------------------------------------------------------ loading
@pytest.fixture(scope="module")
def mae() -> MaskedAutoencoderViT:
    torch.manual_seed(0)
    return mae_test_vit().eval()


def _checkpoints(mae: MaskedAutoencoderViT, folder: Path) -> dict[str, Path]:
    """The same encoder as a vislite Lightning checkpoint, an MAE-Lite release, a timm export."""
    paths = {name: folder / f"{name}.pth" for name in ("lightning", "released", "timm")}
    torch.save({"state_dict": {f"model.{k}": v for k, v in mae.state_dict().items()}}, paths["lightning"])
    torch.save({"model": {f"model.{k}": v for k, v in to_reference_keys(mae.state_dict()).items()}}, paths["released"])
    export_encoder(mae, paths["timm"])
    return paths


@pytest.mark.parametrize("source", ["lightning", "released", "timm"])
def test_load_vit_from_every_checkpoint_layout(mae: MaskedAutoencoderViT, tmp_path: Path, source: str) -> None:
    path = _checkpoints(mae, tmp_path)[source]
    model = load_vit(path, name="test_vislite_vit", global_pool=False)  # the checkpoint's trained final norm
    assert model.patch_embed.img_size == (32, 32)  # from the checkpoint's position table
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(images), mae.encoder.forward_features(images))
    # the default is MAE-Lite's analysis model: fine-tuning ViT, trained norm dropped, fc_norm fresh
    official = load_vit(path, name="test_vislite_vit")
    assert isinstance(official.norm, torch.nn.Identity)
    assert torch.equal(official.fc_norm.weight, torch.ones(32)) and torch.equal(official.fc_norm.bias, torch.zeros(32))
    with torch.no_grad():
        blocks_out = official.forward_features(images)  # no final norm
        last = torch.nn.functional.layer_norm(blocks_out, (32,), eps=1e-6)
        torch.testing.assert_close(official.fc_norm(blocks_out), last)
        torch.testing.assert_close(model.norm(blocks_out), mae.encoder.forward_features(images))


def test_load_vit_from_a_fine_tuned_classifier_and_a_prefix(tmp_path: Path) -> None:
    torch.manual_seed(3)
    classifier = timm.create_model("test_vislite_vit", num_classes=7)  # GAP + fc_norm + head
    path = tmp_path / "finetuned.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in classifier.state_dict().items()}}, path)
    model = load_vit(path, name="test_vislite_vit")
    torch.testing.assert_close(model.fc_norm.weight, classifier.fc_norm.weight)
    assert load_vit(path, name="test_vislite_vit", img_size=64).pos_embed.shape == (1, 65, 32)  # resized table
    nested = tmp_path / "moco.pth"
    torch.save({"state_dict": {f"base_encoder.{k}": v for k, v in classifier.state_dict().items()}}, nested)
    torch.testing.assert_close(
        load_vit(nested, name="test_vislite_vit", prefix="base_encoder.").pos_embed, classifier.pos_embed
    )
    with pytest.raises(CheckpointError, match="no weights under prefix 'momentum_encoder.'"):
        load_vit(nested, name="test_vislite_vit", prefix="momentum_encoder.")
    with pytest.raises(CheckpointError, match="does not fit test_vit"):
        load_vit(path, name="test_vit")


def test_load_vit_finds_the_encoder_of_moco_and_d2mae_checkpoints(tmp_path: Path) -> None:
    """MoCo-v3's base encoder and D²-MAE's kept blocks load without a prefix, as fine-tuning reads them."""
    torch.manual_seed(4)
    moco = build_mocov3("test_vislite_vit", img_size=32, dim=16, mlp_dim=32)
    torch.save({"state_dict": {f"model.{k}": v for k, v in moco.state_dict().items()}}, tmp_path / "moco.ckpt")
    model = load_vit(tmp_path / "moco.ckpt", name="test_vislite_vit", global_pool=False)
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(images), moco.base_encoder.forward_features(images))

    student = d2mae_test_vit().eval()  # 5 blocks: 4 kept, the last an attention probe
    with torch.no_grad():
        student.encoder.blocks[4].norm1.weight.uniform_(0.5, 1.5)  # tell the probe's norm from the MAE's
    teacher = MAETeacher(
        encoder=timm.create_model("test_vislite_vit", num_classes=0, global_pool="token", fc_norm=False)
    )
    distilled = DistilledMAE(student=student, teacher=teacher)
    torch.save({"state_dict": {f"model.{k}": v for k, v in distilled.state_dict().items()}}, tmp_path / "d2.ckpt")
    model = load_vit(tmp_path / "d2.ckpt", name="test_vislite_vit", global_pool=False)
    assert len(model.blocks) == 4
    torch.testing.assert_close(model.norm.weight, student.encoder.blocks[4].norm1.weight)
    torch.testing.assert_close(model.blocks[3].mlp.fc2.weight, student.encoder.blocks[3].mlp.fc2.weight)


# ---------------------------------------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_classification(tmp_path_factory.mktemp("world"), image_size=32, train_per_class=3, val_per_class=2)


def _cli(command: str, checkpoints: dict[str, Path], world: Path, out: Path, *extra: str) -> list[Path]:
    """Run ``vislite-analyze command`` on ``{label: checkpoint}`` over 12 val images of the world."""
    models = [arg for label, path in checkpoints.items() for arg in ("--ckpt", str(path), "--label", label)]
    return run([
        command, *models, "--model", "test_vislite_vit", "--data", str(world), "--num", "12", "--batch-size", "6",
        "--device", "cpu", "--out", str(out), "--no-progress", *extra,
    ])  # fmt: skip


def test_cli_attention_and_cka(mae: MaskedAutoencoderViT, world: Path, tmp_path: Path) -> None:
    paths = _checkpoints(mae, tmp_path)
    paths = {"MAE": paths["lightning"], "MAE timm": paths["timm"]}
    written = _cli("attention", paths, world, tmp_path / "out", "--unit", "pixels")
    assert {p.name for p in written} == {"attention.png", "attention.json", "attention.csv"}
    data = json.loads((tmp_path / "out" / "attention.json").read_text())
    assert data["MAE"]["num_images"] == 12 and data["MAE"]["distance_unit"] == "pixels"
    assert data["MAE"]["entropy"] == data["MAE timm"]["entropy"]  # same weights, same images
    assert len(data["MAE"]["distance"]) == 4 and len(data["MAE"]["distance"][0]) == 4  # [layers][heads]
    rows = list(csv.DictReader((tmp_path / "out" / "attention.csv").open()))
    assert len(rows) == 2 * 4 * 4 and 0 < float(rows[0]["entropy"]) <= math.log(16) + 1e-6
    written = _cli("cka", paths, world, tmp_path / "out")
    assert {p.name for p in written} == {f"cka_MAE_vs_MAE_timm.{ext}" for ext in ("png", "json", "csv")}
    matrix = torch.tensor(json.loads((tmp_path / "out" / "cka_MAE_vs_MAE_timm.json").read_text())["cka"])
    assert matrix.shape == (5, 5)
    torch.testing.assert_close(matrix.diagonal(), torch.ones(5))
    assert all(p.stat().st_size > 1000 for p in written if p.suffix == ".png")


def test_cli_attention_maps_and_probe(mae: MaskedAutoencoderViT, world: Path, tmp_path: Path) -> None:
    paths = {"MAE": _checkpoints(mae, tmp_path)["released"]}
    written = _cli("attn-maps", paths, world, tmp_path / "out", "--images", "2", "--layer", "0", "--layer", "-1")
    names = {p.name for p in written}
    assert {"attn_maps_MAE_layer1.png", "attn_maps_MAE_layer4.png", "attn_maps_MAE.json"} == names
    maps = json.loads((tmp_path / "out" / "attn_maps_MAE.json").read_text())
    assert len(maps["images"]) == 2 and torch.tensor(maps["maps"]["layer4"]).shape == (2, 4, 4, 4)
    written = _cli("probe", paths, world, tmp_path / "out", "--max-iter", "20", "--weight-decay", "1e-3")
    assert (tmp_path / "out" / "probe.png").stat().st_size > 1000
    assert {p.name for p in written} == {"probe.png", "probe.json", "probe.csv"}
    result = json.loads((tmp_path / "out" / "probe.json").read_text())["MAE"]
    assert (result["num_train"], result["num_val"], result["num_classes"]) == (24, 12, 8)
    assert len(result["val_acc"]) == 5 and all(0.0 <= acc <= 1.0 for acc in result["val_acc"])
    assert result["weight_decay"] == [1e-3] * 5 and result["pool"] == "avg"


def test_cli_refuses_mismatched_repeated_options(mae: MaskedAutoencoderViT, world: Path, tmp_path: Path) -> None:
    paths = _checkpoints(mae, tmp_path)
    with pytest.raises(SystemExit, match="--label is given 3 times for 2 checkpoints"):
        _cli("cka", {"a": paths["timm"], "b": paths["released"]}, world, tmp_path / "out", "--label", "third")

"""DSPNet: the exact backbone functions, the sandwich rule, losses, the training step, export, subsets, recipes."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from vislite_common.backbones import WidthResNet, create_backbone
from vislite_common.data.world import make_classification
from vislite_common.lit.optim import OptimizerFactory
from vislite_pretrain.dspnet import (
    DSPNetModule,
    build_dspnet,
    export_widths,
    load_slim_backbone,
    read_manifest,
    sandwich_widths,
    slim,
    slimmable_backbone,
)
from vislite_pretrain.dspnet.loss import cross_view_cosine, info_nce, queue_info_nce
from vislite_pretrain.dspnet.subsets import SubsetImageFolderDataModule, read_label_subset, write_label_subset

WIDTHS = (1.0, 0.75, 0.5, 0.25)


# ------------------------------------------------------------------------- the exact functions (ResNet-50)
def _resnet50_by_hand(width: float) -> tuple[int, int]:
    """(parameters, conv multiply-adds at 224 px) of the width-``width`` ResNet-50 from its layer arithmetic:
    every channel ``int(c * w)``; BatchNorm 2 parameters a channel; stride on the 3x3; projection shortcuts."""
    s = int(64 * width)
    params, macs, res, cin = 3 * 49 * s + 2 * s, 3 * 49 * s * 112 * 112, 56, s
    for stage, (blocks, mid) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512))):
        m, o = int(mid * width), int(4 * mid * width)
        for index in range(blocks):
            stride = 2 if stage and not index else 1
            out = res // stride
            params += cin * m + 9 * m * m + m * o + 4 * m + 2 * o
            macs += cin * m * res * res + (9 * m * m + m * o) * out * out
            if stride != 1 or cin != o:
                params, macs = params + cin * o + 2 * o, macs + cin * o * out * out
            cin, res = o, out
    return params, macs


def test_slimmable_resnet50_widths_by_hand() -> None:
    with torch.device("meta"):
        net = slimmable_backbone("resnet50", width_mult=0.75)
    for width in WIDTHS:
        with torch.device("meta"):
            small = slim(net, width)
            with net.at_width(width):
                features = net(torch.empty(2, 3, 224, 224))
        params, macs = _resnet50_by_hand(width)
        assert features.shape == (2, int(2048 * width))
        assert sum(p.numel() for p in small.parameters()) == params
        assert sum(isinstance(m, nn.BatchNorm2d) for m in small.modules()) == 53  # one BatchNorm set
        with FlopCounterMode(display=False) as counter:
            small.eval()(torch.empty(1, 3, 224, 224, device="meta"))
        assert counter.get_total_flops() == 2 * macs
        assert isinstance(small, WidthResNet) and net.width_mult == 0.75


def test_reference_figures() -> None:
    """S-ResNet-50 at 1.0 / 0.75 / 0.5 / 0.25: backbone parameters and conv GMACs (slimmable_networks)."""
    assert [_resnet50_by_hand(w)[0] for w in WIDTHS] == [23_508_032, 13_234_992, 5_892_640, 1_480_976]
    assert [round(_resnet50_by_hand(w)[1] / 1e9, 5) for w in WIDTHS] == [4.08714, 2.32114, 1.05129, 0.27757]


def test_slim_equals_the_slimmable_output_and_leaves_the_model_unchanged() -> None:
    torch.manual_seed(0)
    net = slimmable_backbone("test_resnet", width_mult=0.5)
    images = torch.randn(4, 3, 32, 32)
    net.train()
    with torch.no_grad():
        for width in WIDTHS:  # a few batch-statistics updates give every width its own running statistics
            net.width_mult = width
            net(images * (1 + width))
    net.width_mult = 0.5
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        for width in WIDTHS:
            small = slim(net, width)
            with net.at_width(width):
                assert torch.equal(small(images), net(images))
    assert net.width_mult == 0.5 and all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())


def test_bad_widths_are_refused() -> None:
    match = r"unsupported width_mult 0\.6.*supported widths: 1.0, 0.75, 0.5, 0.25"
    with pytest.raises(ValueError, match=match), torch.device("meta"):
        slimmable_backbone("resnet50", width_mult=0.6)
    net = slimmable_backbone("test_resnet")
    with pytest.raises(ValueError, match="unsupported width_mult 0.1"):
        slim(net, 0.1)
    with pytest.raises(ValueError, match="unknown slimmable backbone 'vit'"):
        slimmable_backbone("vit")


# --------------------------------------------------------------------------------------- sandwich, losses
def test_sandwich_rule() -> None:
    rng = random.Random(0)
    draws = [sandwich_widths(WIDTHS, 1, rng) for _ in range(200)]
    assert all(d[0] == 1.0 and d[-1] == 0.25 and len(d) == 3 for d in draws)
    assert {d[1] for d in draws} == {0.75, 0.5}  # the middle width is drawn at random
    assert sandwich_widths(WIDTHS, 2, rng) == [1.0, 0.75, 0.5, 0.25]
    assert sandwich_widths(WIDTHS, 0, rng) == [1.0, 0.25]
    assert sandwich_widths([0.5], 0, rng) == [0.5]
    with pytest.raises(ValueError, match="num_random must be between 0 and 2"):
        sandwich_widths(WIDTHS, 3, rng)


def test_losses_by_hand() -> None:
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    assert float(cross_view_cosine((a, a), (a, a))) == pytest.approx(-1.0)
    assert float(cross_view_cosine((a, a), (b, a))) == pytest.approx(-0.5)  # view 2 vs target 1 orthogonal
    q = torch.eye(3)
    # q_i . k_j = delta_ij, T = 1: CE = log(1 + 2 e^-1) - ... = -log(e / (e + 2)), x 2T
    assert float(info_nce(q, q, 1.0)) == pytest.approx(-2 * math.log(math.e / (math.e + 2)), rel=1e-6)
    queue = -torch.eye(3)  # every negative at cosine -1 or 0
    expected = -math.log(math.e / (math.e + math.exp(-1) + 2))
    assert float(queue_info_nce(q, q, queue, 1.0)) == pytest.approx(expected, rel=1e-6)


# --------------------------------------------------------------------------------------------- training
def _tiny(**kwargs: Any) -> nn.Module:
    torch.manual_seed(0)
    return build_dspnet("test_resnet", dim=16, hidden_dim=32, **kwargs)


def test_heads_and_teacher() -> None:
    dsp = _tiny()
    assert dsp.projector[0].in_features_list == (256, 192, 128, 64)
    assert dsp.distill_predictor is not dsp.predictor and dsp.teacher_backbone.width_mult == 1.0
    assert not any(p.requires_grad for p in dsp.teacher_backbone.parameters())
    with torch.no_grad():
        for p in dsp.backbone.parameters():
            p.add_(1.0)
    teacher = [p.clone() for p in dsp.teacher_backbone.parameters()]
    dsp.update_teacher(0.9)
    for t0, t1, online in zip(teacher, dsp.teacher_backbone.parameters(), dsp.backbone.parameters()):
        torch.testing.assert_close(t1, 0.9 * t0 + 0.1 * online)
    dsp.set_width(0.25)
    assert dsp.teacher_backbone.width_mult == 1.0 and dsp.projector[0].width_mult == 0.25


def test_a_small_width_trains_only_its_slice_and_its_batchnorm() -> None:
    dsp = _tiny()
    v1, v2 = torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)
    targets = dsp.teacher_targets(v1, v2)
    dsp.distill_loss(dsp.project(v1, v2, width=0.25), targets).backward()
    grad = dsp.backbone.conv1.weight.grad  # [16, 3, 7, 7]; width 0.25 uses the leading 4 filters
    assert grad[:4].abs().sum() > 0 and grad[4:].abs().sum() == 0
    assert dsp.backbone.bn1.bn[3].weight.grad is not None and dsp.backbone.bn1.bn[0].weight.grad is None
    assert dsp.predictor[0].weight.grad is None and dsp.distill_predictor[0].weight.grad is not None


class _Pairs(pl.LightningDataModule):
    batch_size = 4

    def train_dataloader(self) -> DataLoader:
        gen = torch.Generator().manual_seed(0)
        images = torch.randn(16, 3, 32, 32, generator=gen)
        return DataLoader([((x, x.flip(-1)), 0) for x in images], batch_size=4)


class _Count(pl.Callback):
    batches = 0

    def on_train_batch_end(self, *args: Any) -> None:
        self.batches += 1


@pytest.mark.parametrize(("ssl", "target"), [("byol", "teacher"), ("mocov3", "online"), ("mocov2", "teacher")])
def test_one_optimizer_step_per_batch_over_every_width(ssl: str, target: str, tmp_path: Path) -> None:
    dsp = _tiny(ssl=ssl, distill_target=target, queue_size=8)
    module = DSPNetModule(
        model=dsp, optimizer=OptimizerFactory(name="sgd", lr=0.05, momentum=0.9), export_dir=str(tmp_path / "bb")
    )
    seen: list[list[float]] = []
    original = module.sandwich_losses

    def spy(view1: torch.Tensor, view2: torch.Tensor, widths: list[float], *, backward: bool) -> dict:
        seen.append(widths)
        return original(view1, view2, widths, backward=backward)

    module.sandwich_losses = spy  # type: ignore[method-assign]
    count = _Count()
    trainer = pl.Trainer(
        max_steps=3, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[count],
    )  # fmt: skip
    before = dsp.backbone.layer4[0].conv3.weight.detach().clone()
    trainer.fit(module, datamodule=_Pairs())
    assert trainer.global_step == 3 and count.batches == 3  # one optimizer step per batch, not one per width
    assert seen == [[1.0, 0.75, 0.5, 0.25]] * 3
    assert not torch.equal(before, dsp.backbone.layer4[0].conv3.weight)
    assert {float(read_manifest(p)["width_mult"]) for p in (tmp_path / "bb").glob("width_*")} == set(WIDTHS)
    if ssl == "mocov2":
        assert int(dsp.queue_ptr) == (3 * 8) % 8


def test_distillation_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    for target in ("teacher", "online"):
        dsp = _tiny(distill_target=target)
        module = DSPNetModule(model=dsp, optimizer=OptimizerFactory(name="sgd", lr=0.1))
        module.manual_backward = lambda loss: loss.backward()  # type: ignore[method-assign]
        captured: list = []
        original = dsp.distill_loss
        monkeypatch.setattr(
            dsp, "distill_loss", lambda p, t, seen=captured, original=original: seen.append(t) or original(p, t)
        )
        v1, v2 = torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)
        module.sandwich_losses(v1, v2, [1.0, 0.5], backward=True)  # no optimizer step: the weights are unchanged
        expected = dsp.teacher_targets(v1, v2) if target == "teacher" else dsp.project(v1, v2, width=1.0)
        torch.testing.assert_close(captured[0][0], expected[0])
        assert not captured[0][0].requires_grad


# ---------------------------------------------------------------------------------------------- export
def test_export_and_load_every_width(tmp_path: Path) -> None:
    dsp = _tiny()
    written = export_widths(dsp.backbone, tmp_path, source={"method": "dspnet"})
    images = torch.randn(2, 3, 32, 32)
    for width, manifest_path in written.items():
        manifest = json.loads(manifest_path.read_text())
        assert manifest["name"] == "test_vislite_slim_resnet" and manifest["width_mult"] == width
        assert manifest["feature_dim"] == int(256 * width) and manifest["source"]["method"] == "dspnet"
        loaded = load_slim_backbone(manifest_path.parent, width_mult=width).eval()
        with torch.no_grad():
            assert torch.equal(loaded(images), slim(dsp.backbone, width).eval()(images))
        via_registry = create_backbone(
            manifest["name"], pretrained=manifest_path.parent / "backbone.safetensors", **manifest["kwargs"]
        )
        assert via_registry.num_features == int(256 * width)
    with pytest.raises(ValueError, match=r"holds width 0.5, but width 0.25 was asked for"):
        load_slim_backbone(tmp_path / "width_0.5", width_mult=0.25)
    # weights of another width under a manifest: the shapes give it away
    (tmp_path / "width_0.25" / "backbone.safetensors").replace(tmp_path / "width_0.5" / "backbone.safetensors")
    with pytest.raises(ValueError, match=r"has shape \(4,.*expects \(8,.*looks like width 0.25.*another width"):
        load_slim_backbone(tmp_path / "width_0.5")
    with pytest.raises(FileNotFoundError, match="no backbone manifest"):
        load_slim_backbone(tmp_path / "nowhere")


def test_mobilenetv2_exports_through_its_class(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = slimmable_backbone("test_mobilenetv2").eval()
    export_widths(net, tmp_path, widths=[0.5])
    manifest = read_manifest(tmp_path / "width_0.5")
    assert manifest["name"] is None and manifest["class"].endswith("MobileNetV2")
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(load_slim_backbone(tmp_path / "width_0.5").eval()(images), slim(net, 0.5)(images))


# --------------------------------------------------------------------------------------------- subsets
@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("world") / "classification"
    return make_classification(root, seed=0, image_size=32, train_per_class=20, val_per_class=4)


def test_label_subsets_are_deterministic_and_class_balanced(small_world: Path, tmp_path: Path) -> None:
    first = write_label_subset(small_world / "train", 0.1, tmp_path / "a.txt")
    again = write_label_subset(small_world / "train", 0.1, tmp_path / "b.txt")
    other = write_label_subset(small_world / "train", 0.1, tmp_path / "c.txt", seed=1)
    assert first == again == read_label_subset(tmp_path / "a.txt") and first != other
    classes = [line.split("/")[0] for line in first]
    assert len(first) == 16 and all(classes.count(c) == 2 for c in set(classes)) and len(set(classes)) == 8
    dm = SubsetImageFolderDataModule(subset_file=tmp_path / "a.txt", root=small_world, batch_size=4, input_size=32)
    dm.setup("fit")
    train = dm.datasets["train"]
    assert sorted(Path(p).relative_to(train.root).as_posix() for p, _ in train.samples) == first
    (tmp_path / "bad.txt").write_text("square/none.jpg\n")
    bad = SubsetImageFolderDataModule(subset_file=tmp_path / "bad.txt", root=small_world, batch_size=4, input_size=32)
    with pytest.raises(ValueError, match=r"bad.txt: 1 listed image\(s\) are not in"):
        bad.setup("fit")


# --------------------------------------------------------------------------------------------- recipes
def _compose(*overrides: str) -> DictConfig:
    with initialize_config_module(config_module="vislite_pretrain.configs", version_base="1.3"):
        return compose(config_name="train", overrides=["data.root=/datasets/imagenet", *overrides])


def test_recipes() -> None:
    dsp = _compose("experiment=dspnet_r50_in1k")
    model = dsp.model
    assert (model.model.backbone, list(model.model.width_mults), model.model.ssl) == ("resnet50", list(WIDTHS), "byol")
    assert (model.model.dim, model.model.hidden_dim, model.base_momentum, model.num_random) == (2048, 2048, 0.99, 2)
    assert (model.optimizer.name, model.optimizer.lr, model.optimizer.weight_decay) == ("sgd", 0.05, 1e-4)
    assert (dsp.trainer.max_epochs, dsp.data.batch_size, list(dsp.data.views.scale)) == (100, 480, [0.2, 1.0])
    assert _compose("experiment=dspnet_mbv2_in1k").model.model.backbone == "mobilenetv2"
    byol = _compose("experiment=byol_r50_in1k", "model.model.width_mults=[0.5]")
    assert list(byol.model.model.width_mults) == [0.5] and byol.model.optimizer.lr == 0.05
    linear = _compose("experiment=dspnet_linear_in1k", "model.model.init=/run/backbones/width_0.5")
    assert (linear.model.optimizer.lr, linear.trainer.max_epochs, linear.model.optimizer.weight_decay) == (0.8, 60, 0)
    semi = _compose("experiment=dspnet_semisup_in1k", "data.subset_file=s.txt", "model.model.init=/x")
    assert semi.data._target_.endswith("SubsetImageFolderDataModule") and semi.model.optimizer.nesterov


def test_recipe_builds_at_test_size(tmp_path: Path) -> None:
    cfg = _compose(
        "experiment=dspnet_r50_in1k", "model.model.backbone=test_resnet", "model.model.dim=16",
        "model.model.hidden_dim=32", f"model.export_dir={tmp_path}", "data.input_size=32",
    )  # fmt: skip
    module = instantiate(cfg.model)
    assert isinstance(module, DSPNetModule) and module.dsp.width_mults == WIDTHS
    views = instantiate(cfg.data.views)
    pair = views(torch.randint(0, 255, (3, 40, 40), dtype=torch.uint8))
    assert pair[0].shape == (3, 32, 32)
    byol_cfg = _compose(
        "experiment=byol_r50_in1k", "model.model.backbone=test_resnet", "model.model.width_mults=[0.5]",
        f"model.export_dir={tmp_path}",
    )  # fmt: skip
    byol = instantiate(byol_cfg.model)
    assert byol.dsp.width_mults == (0.5,) and byol.dsp.backbone.conv1.weight.shape == (8, 3, 7, 7)


def test_evaluation_recipes_build_on_an_exported_width(tmp_path: Path) -> None:
    export_widths(slimmable_backbone("test_resnet"), tmp_path, widths=[0.5])
    init = f"model.model.init={tmp_path / 'width_0.5'}"
    linear = instantiate(_compose("experiment=dspnet_linear_in1k", init, "data.num_classes=8").model)
    assert linear(torch.randn(2, 3, 32, 32)).shape == (2, 8)
    assert all(not p.requires_grad for p in linear.model.backbone.parameters())
    assert sum(p.numel() for p in linear.optimized_module().parameters()) == 128 * 8 + 8  # the head alone
    semi = _compose("experiment=dspnet_semisup_in1k", init, "data.num_classes=8", "data.subset_file=s.txt")
    tuned = instantiate(semi.model)
    assert all(p.requires_grad for p in tuned.model.parameters())
    wrong = _compose("experiment=dspnet_linear_in1k", init, "data.num_classes=8", "model.model.width_mult=0.25")
    with pytest.raises(Exception, match="holds width 0.5, but width 0.25 was asked for"):
        instantiate(wrong.model)

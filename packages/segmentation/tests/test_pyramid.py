"""ResNet and Hiera backbones: stride-4/8/16/32 maps straight into both heads, weights, layer decay, configs."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import timm
import torch
from hydra.utils import instantiate

from vislite_common.checkpoint import CheckpointError
from vislite_common.engine.compose import compose_config
from vislite_common.lit.optim import OptimizerFactory
from vislite_segmentation.models import (
    FCNHead,
    FPNHead,
    PyramidBackbone,
    UPerHead,
    backbone_kind,
    build_backbone,
    build_segmentor,
)

TINY = {"test_vislite_resnet": (16, 32, 64, 128), "test_vislite_hiera": (8, 16, 32, 64)}


@pytest.mark.parametrize("name", sorted(TINY))
def test_maps_have_strides_4_to_32_and_the_stage_widths(name: str) -> None:
    backbone = build_backbone(name, img_size=64, drop_path_rate=0.0).eval()
    assert isinstance(backbone, PyramidBackbone) and backbone_kind(name) in ("resnet", "hiera")
    assert (backbone.strides, backbone.out_channels, backbone.size_divisor) == ((4, 8, 16, 32), TINY[name], 32)
    feats = backbone(torch.randn(1, 3, 64, 64))
    assert [tuple(f.shape) for f in feats] == [(1, c, 64 // s, 64 // s) for c, s in zip(TINY[name], (4, 8, 16, 32))]


@pytest.mark.parametrize("head", ["fpn", "upernet"])
@pytest.mark.parametrize("name", sorted(TINY))
def test_segmentor_trains_without_a_neck(name: str, head: str) -> None:
    torch.manual_seed(0)
    decode = functools.partial(FPNHead if head == "fpn" else UPerHead, channels=16, num_classes=5)
    aux = functools.partial(FCNHead, channels=8, num_classes=5) if head == "upernet" else None
    model = build_segmentor(backbone=build_backbone(name, img_size=64), decode_head=decode, auxiliary_head=aux)
    assert model.neck is None and model.size_divisor == 32
    images, labels = torch.randn(2, 3, 64, 64), torch.randint(0, 5, (2, 64, 64))
    losses = model(images, labels)
    assert set(losses) == ({"loss", "loss_decode", "loss_aux"} if aux else {"loss", "loss_decode"})
    losses["loss"].backward()
    first = next(model.backbone.body.parameters())
    assert first.grad is not None and first.grad.abs().sum() > 0
    assert model.eval()(images).shape == (2, 5, 64, 64)


@pytest.mark.parametrize("wrap", ["timm", "classifier"])
@pytest.mark.parametrize("name", sorted(TINY))
def test_loads_a_timm_state_dict_or_a_classifier_checkpoint(name: str, wrap: str, tmp_path: Path) -> None:
    source = timm.create_model(name, num_classes=7).eval()  # with its classifier, as exported
    state = source.state_dict()
    path = tmp_path / "weights.pth"
    torch.save(state if wrap == "timm" else {"state_dict": {f"model.{k}": v for k, v in state.items()}}, path)
    backbone = build_backbone(name, img_size=64, drop_path_rate=0.0, init=path).eval()
    images = torch.randn(1, 3, 64, 64)
    expected = source.forward_intermediates(images, indices=list(backbone.indices), intermediates_only=True)
    with torch.no_grad():
        for got, want in zip(backbone(images), expected):
            torch.testing.assert_close(got, want)


def test_hiera_position_table_is_resized_and_other_sizes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "hiera.pth"
    torch.save(timm.create_model("test_vislite_hiera", num_classes=0).state_dict(), path)  # 64 px: 16 x 16 tokens
    backbone = build_backbone("test_vislite_hiera", img_size=96, init=path)
    assert backbone.body.pos_embed.shape == (1, 24 * 24, 8) and backbone.input_size == (96, 96)
    with pytest.raises(ValueError, match="built for 96x96 inputs, got 64x64"):
        backbone(torch.zeros(1, 3, 64, 64))
    torch.save({"conv1.weight": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError):
        build_backbone("test_vislite_hiera", img_size=64, init=path)


def test_unsupported_names_and_vit_options_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported backbone 'resnet18'.*vislite_resnet18"):
        build_backbone("resnet18")  # timm's own ResNet, not a vislite backbone
    with pytest.raises(ValueError, match="unsupported backbone 'no_such_net'"):
        backbone_kind("no_such_net")
    with pytest.raises(ValueError, match="indices pick ViT blocks"):
        build_backbone("test_vislite_resnet", indices=(3, 5, 7, 11))


def test_layer_decay_uses_the_backbone_layer_ids() -> None:
    decode = functools.partial(FPNHead, channels=8, num_classes=3)
    model = build_segmentor(backbone=build_backbone("test_vislite_resnet"), decode_head=decode)
    optimizer = OptimizerFactory(lr=1.0, layer_decay=0.5)(model, global_batch_size=1)
    scale = {id(p): g["lr_scale"] for g in optimizer.param_groups for p in g["params"]}
    body = model.backbone.body
    # stem id 0, the 4 residual blocks ids 1-4, neck-less heads id 5 (scale 1)
    assert scale[id(body.conv1.weight)] == pytest.approx(0.5**5)
    assert scale[id(body.layer4[0].conv1.weight)] == pytest.approx(0.5)
    assert scale[id(model.decode_head.conv_seg.weight)] == 1.0
    plain_body = timm.create_model("resnet18", num_classes=0)  # timm's own ResNet: no layer_ids()
    plain = build_segmentor(backbone=PyramidBackbone(body=plain_body), decode_head=decode)
    with pytest.raises(TypeError, match="layer_decay to 1.0 or null"):
        OptimizerFactory(lr=1.0, layer_decay=0.5)(plain, global_batch_size=1)
    assert OptimizerFactory(lr=1.0, layer_decay=1.0)(plain, global_batch_size=1).param_groups


@pytest.mark.parametrize(("backbone", "model"), [("test_resnet", "semfpn"), ("test_hiera", "upernet")])
def test_backbone_config_entries_build(backbone: str, model: str, tmp_path: Path) -> None:
    overrides = ["experiment=demo_segmentation", f"backbone={backbone}", f"model={model}", "data.crop_size=64"]
    overrides.append(f"paths.data_dir={tmp_path}")
    cfg = compose_config("vislite_segmentation.configs", overrides, output_dir=tmp_path)
    module = instantiate(cfg.model, _convert_="all")
    assert module.segmentor.neck is None and module.segmentor.backbone.strides == (4, 8, 16, 32)
    assert module.segmentor.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 11, 64, 64)

"""Backbone taps, the feature-pyramid neck (strides 4/8/16/32), the heads, the segmentor and layer-wise lr decay."""

from __future__ import annotations

import pytest
import torch
from timm.models import group_parameters

from vislite_common.lit.optim import OptimizerFactory
from vislite_segmentation.models import (
    EncoderDecoder,
    FCNHead,
    FeaturePyramidNeck,
    FPNHead,
    UPerHead,
    build_vit_backbone,
)


@pytest.fixture(scope="module")
def vit_tiny_features() -> tuple[torch.Tensor, list[torch.Tensor]]:
    torch.manual_seed(0)
    backbone = build_vit_backbone("vislite_vit_tiny", img_size=64, drop_path_rate=0.0).eval()
    images = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        return images, backbone(images)


def test_backbone_taps_blocks_4_6_8_12(vit_tiny_features) -> None:
    backbone = build_vit_backbone("vislite_vit_tiny", img_size=64)
    assert backbone.indices == (3, 5, 7, 11)
    assert len(backbone.vit.blocks) == 12 and isinstance(backbone.vit.norm, torch.nn.Identity)
    _, feats = vit_tiny_features
    assert [tuple(f.shape) for f in feats] == [(2, 192, 4, 6)] * 4


def test_neck_outputs_strides_4_8_16_32(vit_tiny_features) -> None:
    images, feats = vit_tiny_features
    neck = FeaturePyramidNeck(in_channels=192)
    outs = neck(feats)
    strides = [images.shape[-1] // o.shape[-1] for o in outs]
    assert strides == [4, 8, 16, 32]
    assert [images.shape[-2] // o.shape[-2] for o in outs] == [4, 8, 16, 32]
    assert all(o.shape[1] == 48 for o in outs)  # embed_dim / 4, as MAE-Lite's neck
    kinds = [type(b[0]).__name__ for b in neck.branches]
    assert kinds == ["ConvTranspose2d", "ConvTranspose2d", "Conv2d", "Conv2d"]
    assert isinstance(neck.branches[3][1], torch.nn.MaxPool2d)


def test_heads_predict_at_stride_4(vit_tiny_features) -> None:
    images, feats = vit_tiny_features
    pyramid = FeaturePyramidNeck(in_channels=192)(feats)
    fpn = FPNHead(in_channels=[48] * 4, channels=128, num_classes=150)
    assert fpn(pyramid).shape == (2, 150, 16, 24)
    assert [len([m for m in t if isinstance(m, torch.nn.Sequential)]) for t in fpn.towers] == [1, 1, 2, 3]
    upernet = UPerHead(in_channels=[48] * 4, channels=64, num_classes=150)
    assert upernet(pyramid).shape == (2, 150, 16, 24)
    aux = FCNHead(in_channels=48, in_index=2, channels=32, num_classes=150)
    assert aux(pyramid).shape == (2, 150, 4, 6)


def _segmentor(aux: bool) -> EncoderDecoder:
    backbone = build_vit_backbone("test_vislite_vit", img_size=32, indices=(0, 1, 2, 3))
    neck = FeaturePyramidNeck(in_channels=32, out_channels=8)
    head = UPerHead(in_channels=[8] * 4, channels=16, num_classes=5)
    aux_head = FCNHead(in_channels=8, channels=8, num_classes=5) if aux else None
    return EncoderDecoder(backbone=backbone, neck=neck, decode_head=head, auxiliary_head=aux_head, aux_weight=0.4)


def test_segmentor_logits_and_losses() -> None:
    torch.manual_seed(0)
    model = _segmentor(aux=True)
    images, labels = torch.randn(2, 3, 32, 32), torch.randint(0, 5, (2, 32, 32))
    labels[:, :4] = 255
    assert model(images).shape == (2, 5, 32, 32)
    losses = model(images, labels)
    torch.testing.assert_close(losses["loss"], losses["loss_decode"] + 0.4 * losses["loss_aux"])
    losses["loss"].backward()
    assert model.backbone.vit.patch_embed.proj.weight.grad is not None
    all_ignored = model(images, torch.full((2, 32, 32), 255))["loss"]
    assert float(all_ignored.detach()) == 0.0


def test_layer_decay_follows_mmseg() -> None:
    """ids: embeddings 0, block k -> k + 1, neck and heads 13; lr scale 0.8 ** (13 - id); 1-D params no decay."""
    backbone = build_vit_backbone("vislite_vit_tiny", img_size=64)
    model = EncoderDecoder(
        backbone=backbone,
        neck=FeaturePyramidNeck(in_channels=192),
        decode_head=FPNHead(in_channels=[48] * 4, num_classes=150),
    )
    ids = group_parameters(model, model.group_matcher(), reverse=True)
    assert ids["backbone.vit.patch_embed.proj.weight"] == 0 and ids["backbone.vit.pos_embed"] == 0
    assert ids["backbone.vit.blocks.0.attn.qkv.weight"] == 1
    assert ids["backbone.vit.blocks.11.mlp.fc2.weight"] == 12
    assert ids["neck.branches.0.0.weight"] == 13 and ids["decode_head.conv_seg.weight"] == 13
    optimizer = OptimizerFactory(name="adamw", lr=1e-4, weight_decay=0.05, layer_decay=0.8)(model, global_batch_size=16)
    lr_of = {id(p): (g["lr"], g["weight_decay"]) for g in optimizer.param_groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert lr_of[id(named["decode_head.conv_seg.weight"])] == pytest.approx((1e-4, 0.05))
    assert lr_of[id(named["backbone.vit.blocks.11.attn.qkv.weight"])] == pytest.approx((0.8e-4, 0.05))
    assert lr_of[id(named["backbone.vit.patch_embed.proj.weight"])][0] == pytest.approx(1e-4 * 0.8**13)
    assert lr_of[id(named["backbone.vit.blocks.3.norm1.weight"])][1] == 0.0
    assert lr_of[id(named["decode_head.conv_seg.bias"])][1] == 0.0


def test_bad_backbone_arguments() -> None:
    with pytest.raises(ValueError, match="increasing block indices"):
        build_vit_backbone("test_vislite_vit", img_size=32, indices=(2, 1))
    with pytest.raises(ValueError, match=r"in \[0, 4\)"):
        build_vit_backbone("test_vislite_vit", img_size=32, indices=(0, 4))
    backbone = build_vit_backbone("test_vislite_vit", img_size=32, indices=(0, 1, 2, 3))
    with pytest.raises(ValueError, match="multiples of the patch size 8"):
        backbone(torch.randn(1, 3, 30, 32))
    with pytest.raises(ValueError, match="unknown backbone 'no_such_vit'.*vislite_vit_tiny"):
        build_vit_backbone("no_such_vit")
    with pytest.raises(ValueError, match="3 branches but got 4"):
        FeaturePyramidNeck(in_channels=8, scales=(4, 2, 1))([torch.zeros(1, 8, 2, 2)] * 4)

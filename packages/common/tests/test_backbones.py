"""Backbones: reference parameter counts, multi-scale outputs, attention-logit capture, layer ids, registry."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision

import vislite_common  # noqa: F401
from vislite_common.backbones import create_backbone, list_backbones, parameter_layer_ids


def _count(name: str, **kwargs) -> int:
    with torch.device("meta"):
        model = timm.create_model(name, **kwargs)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("vislite_vit_tiny", {}, 5_717_416),
        ("vislite_vit_tiny", {"num_classes": 0}, 5_524_416),
        ("vislite_vit_small", {}, 22_050_664),
        ("vislite_hiera_tiny46", {}, 6_694_966),
        ("vislite_hiera_tiny46", {"num_classes": 0}, 6_325_966),
        ("vislite_resnet18", {}, 11_689_512),
        ("vislite_resnet50", {}, 25_557_032),
        ("vislite_resnext50_32x4d", {}, 25_028_904),
    ],
)
def test_parameter_counts(name: str, kwargs: dict, expected: int) -> None:
    assert _count(name, **kwargs) == expected


def test_vit_tiny_has_twelve_heads() -> None:
    with torch.device("meta"):
        model = timm.create_model("vislite_vit_tiny")
    assert model.blocks[0].attn.num_heads == 12
    assert model.embed_dim == 192 and len(model.blocks) == 12


def test_forward_intermediates_shapes() -> None:
    vit = timm.create_model("test_vislite_vit")
    maps = vit.forward_intermediates(torch.randn(2, 3, 32, 32), indices=[0, 1, 2, 3], intermediates_only=True)
    assert [tuple(m.shape) for m in maps] == [(2, 32, 4, 4)] * 4
    hiera = timm.create_model("test_vislite_hiera")
    maps = hiera.forward_intermediates(torch.randn(2, 3, 64, 64), intermediates_only=True)
    assert [tuple(m.shape[1:]) for m in maps] == [(8, 16, 16), (16, 8, 8), (32, 4, 4), (64, 4, 4)]
    resnet = timm.create_model("test_vislite_resnet")
    maps = resnet.forward_intermediates(torch.randn(1, 3, 64, 64), indices=[1, 2, 3, 4], intermediates_only=True)
    assert [m.shape[-1] for m in maps] == [16, 8, 4, 2]


def _qkv_logits(model: torch.nn.Module, block: int, images: torch.Tensor, split) -> torch.Tensor:
    """Logits computed by hand from the block's qkv projection output."""
    seen = {}
    handle = model.blocks[block].attn.qkv.register_forward_hook(lambda m, i, o: seen.setdefault("qkv", o))
    with torch.no_grad():
        model(images)
    handle.remove()
    q, k = split(seen["qkv"])
    return (q * model.blocks[block].attn.scale) @ k.transpose(-2, -1)


def test_vit_captured_logits_equal_manual_q_k() -> None:
    torch.manual_seed(0)
    model = timm.create_model("test_vislite_vit").eval()
    images = torch.randn(2, 3, 32, 32)
    heads, dim = 4, 8

    def split(qkv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        qkv = qkv.reshape(2, 17, 3, heads, dim).permute(2, 0, 3, 1, 4)  # [3, B, H, N, d]
        return qkv[0], qkv[1]

    with torch.no_grad(), model.capture_attention([1, -1]) as captured:
        model(images)
    assert sorted(captured) == [1, 3]
    assert captured[3].shape == (2, heads, 17, 17)
    torch.testing.assert_close(captured[1], _qkv_logits(model, 1, images, split))


def test_hiera_captured_logits_equal_manual_q_k() -> None:
    torch.manual_seed(0)
    model = timm.create_model("vislite_hiera_tiny46", img_size=(64, 64)).eval()
    images = torch.randn(1, 3, 64, 64)
    last = len(model.blocks) - 1
    attn = model.blocks[last].attn  # global attention, 8 heads, 2x2 tokens

    def split(qkv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        qkv = qkv.reshape(1, -1, 3, attn.heads, attn.head_dim).permute(2, 0, 3, 1, 4)
        return qkv[0], qkv[1]

    with torch.no_grad(), model.capture_attention(-1) as captured:
        model(images)
    torch.testing.assert_close(captured[last], _qkv_logits(model, last, images, split))


@pytest.mark.parametrize("name", ["test_vislite_vit", "test_vislite_hiera"])
def test_capture_leaves_output_unchanged_and_cleans_up(name: str) -> None:
    model = timm.create_model(name).eval()
    images = torch.randn(2, 3, *model.pretrained_cfg["input_size"][1:])
    with torch.no_grad():
        fused = model(images)
        with model.capture_attention(-1):
            explicit = model(images)
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)
    attn = model.blocks[-1].attn
    assert attn.capture_logits is False and not attn.logits._forward_hooks


def test_cnn_has_no_attention() -> None:
    model = timm.create_model("test_vislite_resnet")
    with pytest.raises(TypeError, match="CNN"), model.capture_attention(-1):
        pass


def test_vit_tiny_layer_ids_and_decay_scales() -> None:
    with torch.device("meta"):
        model = timm.create_model("vislite_vit_tiny")
    ids = parameter_layer_ids(model)
    assert ids["cls_token"] == ids["pos_embed"] == ids["patch_embed.proj.weight"] == 0
    assert ids["blocks.0.attn.qkv.weight"] == 1 and ids["blocks.11.mlp.fc2.bias"] == 12
    assert ids["fc_norm.weight"] == ids["head.weight"] == 13
    groups = timm.optim.param_groups_layer_decay(model, layer_decay=0.85)
    scales = sorted({round(g["lr_scale"], 5) for g in groups})
    assert scales[0] == pytest.approx(0.12091) and len(scales) == 14 and scales[-1] == 1.0


@pytest.mark.parametrize("name", [n for n in list_backbones() if n.startswith("test_")])
def test_tiny_variants_train(name: str) -> None:
    model = create_backbone(name, num_classes=3)
    size = model.pretrained_cfg["input_size"][1:]
    loss = model(torch.randn(2, 3, *size)).logsumexp(-1).mean()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_registry_loads_local_weights(tmp_path) -> None:
    source = create_backbone("test_vislite_vit", num_classes=5).eval()
    path = tmp_path / "weights.pth"
    torch.save({"model": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    loaded = create_backbone("test_vislite_vit", num_classes=5, pretrained=path).eval()
    images = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(loaded(images), source(images))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_backbone("test_vislite_vit", pretrained=tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="unknown backbone .* vislite_vit_tiny"):
        create_backbone("vislite_vit_huge_typo")


def test_torchvision_resnet_weights_load() -> None:
    model = create_backbone("vislite_resnet18")
    model.load_state_dict(torchvision.models.resnet18().state_dict(), strict=True)

"""Backbones: reference parameter counts, multi-scale outputs, attention-logit capture, layer ids, registry."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
import torchvision
from torch import nn

import vislite_common  # noqa: F401  (registers the vislite backbones)
from vislite_common.backbones import (
    CapturableMaskUnitAttention,
    Hiera,
    create_backbone,
    list_backbones,
    load_torchvision_state_dict,
    parameter_layer_ids,
)

TINY = [name for name in list_backbones() if name.startswith("test_")]


def _meta(name: str, **kwargs) -> nn.Module:
    """Build ``name`` on the meta device: no memory, no initialisation — for counts and names only."""
    with torch.device("meta"):
        return timm.create_model(name, **kwargs)


def _input(model: nn.Module, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, *model.pretrained_cfg["input_size"][1:])


def _outputs(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and logits (Hiera's head starts near zero, so logits alone would hide differences)."""
    features = model.forward_features(images)
    return features, model.forward_head(features)


@pytest.fixture(scope="module")
def hiera46() -> Hiera:
    """The real Hiera-Tiny(46) at 128 px: 32x32 tokens, 4x4 mask units, stage grids 32-16-8-4."""
    torch.manual_seed(0)
    return timm.create_model("vislite_hiera_tiny46", img_size=(128, 128)).eval()


# ---------------------------------------------------------------------------------------------- parameter counts


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
    assert sum(p.numel() for p in _meta(name, **kwargs).parameters()) == expected


def test_architecture_hyperparameters() -> None:
    vit = _meta("vislite_vit_tiny")
    assert vit.blocks[0].attn.num_heads == 12 and vit.embed_dim == 192 and len(vit.blocks) == 12
    hiera = _meta("vislite_hiera_tiny46")
    attn = [block.attn for block in hiera.blocks]
    assert all(isinstance(a, CapturableMaskUnitAttention) for a in attn)
    assert [a.heads for a in attn] == [1, 2, 2, 4, 4, 4, 4, 4, 4, 4, 8, 8]
    assert [a.dim_out for a in attn] == [46, 92, 92, 184, 184, 184, 184, 184, 184, 184, 368, 368]
    assert [a.q_stride for a in attn] == [1, 4, 1, 4, 1, 1, 1, 1, 1, 1, 4, 1]  # q pooling entering stages 2-4
    assert [a.use_mask_unit_attn for a in attn] == [True] * 4 + [False] * 8
    assert tuple(hiera.patch_embed.proj.kernel_size) == (7, 7) and tuple(hiera.patch_embed.proj.stride) == (4, 4)


# -------------------------------------------------------------------------------------- multi-scale features


def test_vit_forward_intermediates() -> None:
    vit = timm.create_model("test_vislite_vit").eval()
    with torch.no_grad():
        maps = vit.forward_intermediates(_input(vit), indices=[0, 1, 2, 3], intermediates_only=True)
    assert [tuple(m.shape) for m in maps] == [(2, 32, 4, 4)] * 4
    with torch.device("meta"):  # the full model at 224 px: shapes only
        tiny = timm.create_model("vislite_vit_tiny")
        maps = tiny.forward_intermediates(torch.empty(2, 3, 224, 224), indices=4, intermediates_only=True)
    assert [tuple(m.shape) for m in maps] == [(2, 192, 14, 14)] * 4


def test_hiera_forward_intermediates(hiera46: Hiera) -> None:
    with torch.no_grad():
        maps = hiera46.forward_intermediates(torch.randn(1, 3, 128, 128), intermediates_only=True)
    # strides 4, 8, 16, 32; widths double per stage
    assert [tuple(m.shape) for m in maps] == [(1, 46, 32, 32), (1, 92, 16, 16), (1, 184, 8, 8), (1, 368, 4, 4)]
    tiny = timm.create_model("test_vislite_hiera").eval()
    with torch.no_grad():
        maps = tiny.forward_intermediates(_input(tiny), intermediates_only=True)
    assert [tuple(m.shape) for m in maps] == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4), (2, 64, 2, 2)]


def test_resnet_forward_intermediates() -> None:
    resnet = timm.create_model("test_vislite_resnet").eval()
    with torch.no_grad():
        maps = resnet.forward_intermediates(torch.randn(2, 3, 64, 64), indices=[1, 2, 3, 4], intermediates_only=True)
    assert [tuple(m.shape) for m in maps] == [(2, 16, 16, 16), (2, 32, 8, 8), (2, 64, 4, 4), (2, 128, 2, 2)]


@pytest.mark.parametrize("name", TINY)
def test_features_only(name: str) -> None:
    model = timm.create_model(name, features_only=True).eval()
    with torch.no_grad():
        maps = model(_input(model))
    assert [m.shape[1] for m in maps] == model.feature_info.channels()


# ------------------------------------------------------------------------------------ attention-logit capture


def _qkv_outputs(model: nn.Module, blocks: list[int]) -> tuple[dict[int, torch.Tensor], list]:
    """Forward hooks storing each block's ``attn.qkv`` output ``[B, N, 3 * C]``."""
    seen: dict[int, torch.Tensor] = {}
    handles = [
        model.blocks[i].attn.qkv.register_forward_hook(lambda _m, _i, out, i=i: seen.__setitem__(i, out))
        for i in blocks
    ]
    return seen, handles


def test_vit_captured_logits_equal_manual_q_k() -> None:
    torch.manual_seed(0)
    model = timm.create_model("test_vislite_vit").eval()
    heads, head_dim, tokens = 4, 8, 17  # 4 heads of 32 / 4; 4x4 patches + cls
    seen, handles = _qkv_outputs(model, [1])
    with torch.no_grad(), model.capture_attention([1, -1]) as captured:
        model(_input(model))
    for handle in handles:
        handle.remove()
    assert sorted(captured) == [1, 3]
    assert captured[3].shape == (2, heads, tokens, tokens)
    qkv = seen[1].reshape(2, tokens, 3, heads, head_dim).permute(2, 0, 3, 1, 4)  # [3, B, H, N, d]
    manual = (qkv[0] * model.blocks[1].attn.scale) @ qkv[1].transpose(-2, -1)
    torch.testing.assert_close(captured[1], manual)


def _manual_hiera_logits(attn: CapturableMaskUnitAttention, qkv: torch.Tensor) -> torch.Tensor:
    """Hiera logits from the qkv output by explicit indexing (token ``n = t * windows + w`` after unrolling)."""
    batch, tokens, _ = qkv.shape
    q, k = qkv.view(batch, tokens, 3, attn.heads, attn.head_dim).unbind(2)[:2]  # 2 x [B, N, H, d]
    stride = attn.q_stride
    if attn.use_mask_unit_attn:
        windows = tokens // (stride * attn.window_size)
        index = torch.arange(tokens // windows)[None, :] * windows + torch.arange(windows)[:, None]  # [W, T]
        q, k = (x[:, index].permute(0, 3, 1, 2, 4) for x in (q, k))  # [B, H, W, T, d]
        q = q.unflatten(3, (stride, -1)).amax(3)  # max over q_stride chunks: [B, H, W, T / stride, d]
    else:
        q, k = q.transpose(1, 2), k.transpose(1, 2)  # [B, H, N, d]
        q = q.unflatten(2, (stride, -1)).amax(2)  # [B, H, N / stride, d]
    return torch.einsum("...qd,...kd->...qk", q * attn.scale, k)


def test_hiera_captured_logits_equal_manual_q_k(hiera46: Hiera) -> None:
    # mask-unit (0), mask-unit + q-pool (1, 3), global (4, 11), global + q-pool (10)
    blocks = [0, 1, 3, 4, 10, 11]
    images = torch.randn(1, 3, 128, 128)
    seen, handles = _qkv_outputs(hiera46, blocks)
    with torch.no_grad(), hiera46.capture_attention(blocks) as captured:
        hiera46(images)
    for handle in handles:
        handle.remove()
    shapes = {i: tuple(captured[i].shape) for i in blocks}
    assert shapes == {
        0: (1, 1, 16, 64, 64),  # [B, heads, windows, Nq, Nk]: 16 mask units of 8x8 tokens
        1: (1, 2, 16, 16, 64),
        3: (1, 4, 16, 4, 16),
        4: (1, 4, 64, 64),  # [B, heads, Nq, Nk]: global over the 8x8 grid
        10: (1, 8, 16, 64),
        11: (1, 8, 16, 16),
    }
    for i in blocks:
        torch.testing.assert_close(captured[i], _manual_hiera_logits(hiera46.blocks[i].attn, seen[i]))


def _assert_capture_off(model: nn.Module) -> None:
    for block in model.blocks:
        assert block.attn.capture_logits is False and not block.attn.logits._forward_hooks


@pytest.mark.parametrize("name", ["test_vislite_vit", "test_vislite_hiera", "vislite_hiera_tiny46"])
def test_capture_leaves_output_unchanged_and_cleans_up(name: str, hiera46: Hiera) -> None:
    model = hiera46 if name == "vislite_hiera_tiny46" else timm.create_model(name).eval()
    images = torch.randn(1, 3, 128, 128) if model is hiera46 else _input(model)
    with torch.no_grad():
        fused = _outputs(model, images)
        with model.capture_attention(range(-len(model.blocks), 0)) as captured:  # every block, explicit path
            explicit = _outputs(model, images)
        assert len(captured) == len(model.blocks)
        _assert_capture_off(model)
        torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)
        with pytest.raises(RuntimeError, match="boom"), model.capture_attention(0):
            raise RuntimeError("boom")
        _assert_capture_off(model)
        torch.testing.assert_close(_outputs(model, images), fused)


def test_captured_logits_carry_gradients() -> None:
    model = timm.create_model("test_vislite_hiera")
    with model.capture_attention(0) as captured:
        model(_input(model))
    captured[0].square().mean().backward()
    assert model.patch_embed.proj.weight.grad is not None


def test_capture_rejects_bad_indices() -> None:
    model = timm.create_model("test_vislite_hiera")
    with pytest.raises(IndexError, match="out of range"), model.capture_attention(4):
        pass


@pytest.mark.parametrize("name", ["test_vislite_resnet", "vislite_resnet50"])
def test_cnn_has_no_attention(name: str) -> None:
    model = _meta(name)
    with pytest.raises(TypeError, match=f"{name} is a CNN; it has no attention logits"):
        model.capture_attention(-1)
    with pytest.raises(TypeError, match="CNN"), model.capture_attention(-1):
        pass


# -------------------------------------------------------------------------------------------------- layer ids


def test_vit_tiny_layer_ids_and_decay_scales() -> None:
    model = _meta("vislite_vit_tiny")
    ids = model.layer_ids()
    assert ids == parameter_layer_ids(model) and len(set(ids.values())) == 14
    assert ids["cls_token"] == ids["pos_embed"] == ids["patch_embed.proj.weight"] == 0
    assert all(ids[f"blocks.{k}.attn.qkv.weight"] == k + 1 for k in range(12))
    assert ids["blocks.11.mlp.fc2.bias"] == 12
    assert ids["fc_norm.weight"] == ids["head.weight"] == ids["head.bias"] == 13
    groups = timm.optim.param_groups_layer_decay(model, layer_decay=0.85)
    scales = sorted({g["lr_scale"] for g in groups})
    assert scales == pytest.approx([0.85 ** (13 - i) for i in range(14)])
    assert round(scales[0], 5) == 0.12091


def test_hiera_and_resnet_layer_ids() -> None:
    ids = _meta("vislite_hiera_tiny46").layer_ids()
    assert len(set(ids.values())) == 14
    assert ids["pos_embed"] == ids["patch_embed.proj.weight"] == 0
    assert all(ids[f"blocks.{k}.attn.qkv.weight"] == k + 1 for k in range(12))
    assert ids["head.norm.weight"] == ids["head.fc.weight"] == 13
    ids = _meta("vislite_resnet18").layer_ids()
    assert ids["conv1.weight"] == ids["bn1.bias"] == 0
    assert ids["layer1.0.conv1.weight"] == 1 and ids["layer4.1.bn2.weight"] == 8
    assert ids["fc.weight"] == 9


# --------------------------------------------------------------------------------------------------- registry


def test_list_backbones() -> None:
    names = list_backbones()
    for name in ("vislite_vit_tiny", "vislite_vit_small", "vislite_vit_base", "vislite_hiera_tiny46"):
        assert name in names
    assert {"vislite_resnet18", "vislite_resnet50", "vislite_resnext50_32x4d"} <= set(names)
    assert {"test_vislite_vit", "test_vislite_hiera", "test_vislite_resnet"} <= set(TINY)


@pytest.mark.parametrize("name", list_backbones())
def test_every_backbone_is_creatable(name: str) -> None:
    with torch.device("meta"):
        model = create_backbone(name, num_classes=None, drop_path_rate=None)  # None kwargs are dropped
    assert model.num_classes == 1000
    assert model.pretrained_cfg["architecture"] == name
    assert callable(model.capture_attention) and model.layer_ids()


@pytest.mark.parametrize("name", TINY)
def test_tiny_variants_train(name: str) -> None:
    torch.manual_seed(0)
    model = create_backbone(name, num_classes=3)
    loss = model(_input(model)).logsumexp(-1).mean()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", TINY)
def test_registry_loads_local_weights(name: str, tmp_path: Path) -> None:
    source = create_backbone(name, num_classes=5).eval()
    wrapped = tmp_path / "wrapped.pth"  # MAE/DeiT-style container with DDP prefixes
    torch.save({"model": {f"module.{k}": v for k, v in source.state_dict().items()}}, wrapped)
    plain = tmp_path / "plain.pth"
    torch.save(source.state_dict(), plain)
    images = _input(source)
    with torch.no_grad():
        expected = _outputs(source, images)
        loaded = create_backbone(name, num_classes=5, pretrained=wrapped).eval()
        torch.testing.assert_close(_outputs(loaded, images), expected)
        loaded = create_backbone(name, num_classes=5, pretrained=str(plain)).eval()
        torch.testing.assert_close(_outputs(loaded, images), expected)
        # timm's own route; it drops the classifier when num_classes != 1000, so compare features
        via_timm = timm.create_model(name, num_classes=5, pretrained=True, pretrained_cfg_overlay=dict(file=str(plain)))
        torch.testing.assert_close(via_timm.eval().forward_features(images), expected[0])


def test_registry_resizes_hiera_position_table(tmp_path: Path) -> None:
    source = create_backbone("test_vislite_hiera")
    path = tmp_path / "hiera.pth"
    torch.save(source.state_dict(), path)
    model = create_backbone("test_vislite_hiera", img_size=(128, 128), pretrained=path)
    assert model.pos_embed.shape == (1, 32 * 32, 8)
    torch.testing.assert_close(model.patch_embed.proj.weight, source.patch_embed.proj.weight)


def test_registry_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pth"
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        create_backbone("test_vislite_vit", pretrained=missing)
    with pytest.raises(ValueError, match="unknown backbone 'vislite_vit_huge_typo'") as error:
        create_backbone("vislite_vit_huge_typo")
    assert all(name in str(error.value) for name in list_backbones())


@pytest.mark.parametrize(
    ("name", "torchvision_name"),
    [
        ("vislite_resnet18", "resnet18"),
        ("vislite_resnet50", "resnet50"),
        ("vislite_resnext50_32x4d", "resnext50_32x4d"),
    ],
)
def test_torchvision_resnet_keys_match(name: str, torchvision_name: str) -> None:
    with torch.device("meta"):
        reference = torchvision.models.get_model(torchvision_name)
    load_torchvision_state_dict(_meta(name), reference.state_dict())  # strict: same keys and shapes


def test_torchvision_resnet18_weights_give_same_outputs() -> None:
    torch.manual_seed(0)
    reference = torchvision.models.resnet18().eval()
    model = load_torchvision_state_dict(create_backbone("vislite_resnet18"), reference).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(images), reference(images))

"""Slimmable backbones: width rule, parameter and FLOP counts by hand, exact slimming, width errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from vislite_common.backbones import (
    MobileNetV2,
    WidthResNet,
    create_backbone,
    create_slimmable_backbone,
    list_slimmable_backbones,
    slim,
)
from vislite_common.backbones.slimmable import check_width_state, make_divisible, slim_state_dict
from vislite_common.checkpoint import export_backbone

WIDTHS = (1.0, 0.75, 0.5, 0.25)


# ------------------------------------------------------------------------------- the architecture, by hand
def bottleneck_resnet_counts(
    width: float, *, layers: tuple, middles: tuple, stem: int, size: int
) -> tuple[int, int, int]:
    """(parameters, conv multiply-adds, feature dim) of a v1.5 bottleneck ResNet at ``width`` from its layer
    arithmetic alone: every channel ``int(c * w)``, BatchNorm = 2 parameters a channel, no classifier."""
    s = int(stem * width)
    params = 3 * s * 7 * 7 + 2 * s
    res = size // 2
    macs = 3 * s * 49 * res * res
    res //= 2  # 3x3/2 max-pool
    cin = s
    for stage, (blocks, mid_full) in enumerate(zip(layers, middles)):
        m, o = int(mid_full * width), int(4 * mid_full * width)
        for index in range(blocks):
            stride = 2 if stage > 0 and index == 0 else 1
            out_res = res // stride
            params += cin * m + 2 * m + 9 * m * m + 2 * m + m * o + 2 * o
            macs += cin * m * res * res + 9 * m * m * out_res * out_res + m * o * out_res * out_res
            if stride != 1 or cin != o:
                params += cin * o + 2 * o
                macs += cin * o * out_res * out_res
            cin, res = o, out_res
    return params, macs, cin


def conv_flops(model: nn.Module, size: int) -> int:
    """FLOPs of one ``[1, 3, size, size]`` forward (convolutions: 2 x multiply-adds) by torch's FlopCounterMode."""
    model.eval()
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, size, size, device=next(model.parameters()).device))
    return counter.get_total_flops()


# S-ResNet-50 reference figures (JiahuiYu/slimmable_networks s_resnet.py, one 224 image, one BatchNorm set)
RESNET50 = {
    1.0: (23_508_032, 8_174_272_512, 2048),
    0.75: (13_234_992, 4_642_283_520, 1536),
    0.5: (5_892_640, 2_102_575_104, 1024),
    0.25: (1_480_976, 555_147_264, 512),
}


def test_hand_arithmetic_matches_the_reference_figures() -> None:
    for width, (params, flops, dim) in RESNET50.items():
        counted = bottleneck_resnet_counts(width, layers=(3, 4, 6, 3), middles=(64, 128, 256, 512), stem=64, size=224)
        assert counted == (params, flops // 2, dim)


@pytest.mark.parametrize("width", WIDTHS)
def test_resnet50_slims_to_the_reference_counts(width: float) -> None:
    with torch.device("meta"):
        net = create_slimmable_backbone("resnet50", width_mult=width)
        small = slim(net, width)
    params, flops, dim = RESNET50[width]
    assert isinstance(small, WidthResNet) and not any("bn." in k for k in small.state_dict())
    assert sum(p.numel() for p in small.parameters()) == params
    assert conv_flops(small, 224) == flops == conv_flops(net, 224)  # sliced convolutions count the same
    assert small.num_features == net.num_features == dim
    # the registered ordinary network of that width has the same size (plus its 1000-class classifier)
    with torch.device("meta"):
        registered = create_backbone("vislite_slim_resnet50", width_mult=width)
    assert sum(p.numel() for p in registered.parameters()) == params + dim * 1000 + 1000


@pytest.mark.parametrize("width", WIDTHS)
def test_tiny_resnet_counts_by_hand(width: float) -> None:
    net = create_slimmable_backbone("test_resnet", width_mult=width)
    small = slim(net, width)
    params, macs, dim = bottleneck_resnet_counts(width, layers=(1, 1, 1, 1), middles=(8, 16, 32, 64), stem=16, size=32)
    assert sum(p.numel() for p in small.parameters()) == params
    assert conv_flops(small, 32) == conv_flops(net, 32) == 2 * macs
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, dim)


def test_slimmable_holds_one_weight_set_and_a_batchnorm_set_per_width() -> None:
    net = create_slimmable_backbone("test_resnet")
    full, _, _ = bottleneck_resnet_counts(1.0, layers=(1, 1, 1, 1), middles=(8, 16, 32, 64), stem=16, size=32)
    bn_full = sum(m.weight.numel() * 2 for m in slim(net, 1.0).modules() if isinstance(m, nn.BatchNorm2d))
    extra_bn = sum(
        sum(m.weight.numel() * 2 for m in slim(net, w).modules() if isinstance(m, nn.BatchNorm2d)) for w in WIDTHS[1:]
    )
    assert sum(p.numel() for p in net.parameters()) == full + extra_bn
    assert bn_full > 0 and len(net.bn1.bn) == 4
    assert net.conv1.weight.shape == (16, 3, 7, 7) and net.layer4[0].conv3.weight.shape == (256, 64, 1, 1)


def _randomise_batchnorm(model: nn.Module) -> None:
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(module.num_features, generator=generator) * 0.1)


@pytest.mark.parametrize("name", ["test_resnet", "test_mobilenetv2"])
def test_slim_reproduces_the_slimmable_output_exactly(name: str) -> None:
    torch.manual_seed(0)
    net = create_slimmable_backbone(name, width_mult=0.75).eval()
    _randomise_batchnorm(net)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    images = torch.randn(3, 3, 32, 32)
    outputs = {}
    with torch.no_grad():
        for width in WIDTHS:
            small = slim(net, width).eval()
            assert net.width_mult == 0.75  # unchanged
            with net.at_width(width):
                expected = net(images)
            got = small(images)
            assert torch.equal(got, expected), (width, (got - expected).abs().max())
            outputs[width] = got
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert outputs[0.5].shape[1] != outputs[1.0].shape[1] or name == "test_mobilenetv2"
    # the switch really changes the network: each width has its own BatchNorm statistics
    assert not torch.allclose(outputs[1.0][:, :8], outputs[0.25][:, :8])


def test_slim_state_dict_takes_leading_slices_and_that_widths_batchnorm() -> None:
    net = create_slimmable_backbone("test_resnet")
    state = slim_state_dict(net, 0.5)
    assert torch.equal(state["conv1.weight"], net.conv1.weight[:8, :3])
    assert torch.equal(state["layer2.0.conv2.weight"], net.layer2[0].conv2.weight[:8, :8])
    assert torch.equal(state["layer1.0.downsample.0.weight"], net.layer1[0].downsample[0].weight[:16, :8])
    assert torch.equal(state["bn1.running_var"], net.bn1.bn[2].running_var)
    assert state["conv1.weight"].data_ptr() != net.conv1.weight.data_ptr()  # a copy


def test_width_switch_and_training_all_widths() -> None:
    net = create_slimmable_backbone("test_resnet", width_mult=0.25)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 64)
    net.set_width(1.0)
    assert net.num_features == 256
    net.apply(lambda m: setattr(m, "width_mult", 0.5))  # the reference code's way
    assert net.layer3[0].conv2.width_mult == 0.5 and net(torch.randn(2, 3, 32, 32)).shape == (2, 128)
    loss = sum(net.set_width(w)(torch.randn(2, 3, 32, 32)).square().mean() for w in WIDTHS)
    loss.backward()
    grad = net.layer4[0].conv3.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    # the BatchNorm of every width took part
    assert all(bn.weight.grad is not None for bn in net.bn1.bn)


def test_unsupported_width_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unsupported width_mult 0.3 .*1.0, 0.75, 0.5, 0.25"):
        create_slimmable_backbone("test_resnet", width_mult=0.3)
    net = create_slimmable_backbone("test_resnet")
    with pytest.raises(ValueError, match="unsupported width_mult 0.6"):
        net.width_mult = 0.6
    with pytest.raises(ValueError, match="unsupported width_mult 0.6"):
        slim(net, 0.6)
    assert net.width_mult == 1.0
    with pytest.raises(ValueError, match="unknown slimmable backbone 'resnet51'"):
        create_slimmable_backbone("resnet51")
    with pytest.raises(TypeError, match="slimmable"):
        slim(nn.Linear(2, 2), 0.5)
    with pytest.raises(ValueError, match="does not slim"):
        WidthResNet(width_mult=0.35)
    assert {"resnet50", "mobilenetv2", "test_resnet", "test_mobilenetv2"} <= set(list_slimmable_backbones())


def test_a_slimmed_width_exports_and_loads_through_the_registry(tmp_path: Path) -> None:
    net = create_slimmable_backbone("test_resnet").eval()
    _randomise_batchnorm(net)
    small = slim(net, 0.5).eval()
    path = tmp_path / "backbone.safetensors"
    export_backbone(small, path)
    loaded = create_backbone("test_vislite_slim_resnet", pretrained=path, width_mult=0.5, num_classes=0).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(images), small(images))
        maps = timm.create_model("test_vislite_slim_resnet", width_mult=0.5, features_only=True)(images)
    assert [m.shape[1] for m in maps] == [8, 16, 32, 64, 128]
    with pytest.raises(Exception, match=r"conv1.weight|shape"):  # a checkpoint of another width
        create_backbone("test_vislite_slim_resnet", pretrained=path, width_mult=0.25)
    with pytest.raises(ValueError, match=r"conv1.weight .*looks like width 0.5.*another width"):
        check_width_state(small.state_dict(), slim(net, 0.25))


def test_resnet50_full_width_matches_torchvision_keys() -> None:
    with torch.device("meta"):
        small = slim(create_slimmable_backbone("resnet50"), 1.0)
        reference = torchvision.models.resnet50()
    expected = {k: tuple(v.shape) for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    assert {k: tuple(v.shape) for k, v in small.state_dict().items()} == expected


@pytest.mark.parametrize("width", [0.75, 0.25])
def test_mobilenetv2_widths_match_torchvisions_rule(width: float) -> None:
    with torch.device("meta"):
        small = slim(create_slimmable_backbone("mobilenetv2", width_mult=width), width)
        reference = torchvision.models.mobilenet_v2(width_mult=width)
    assert isinstance(small, MobileNetV2) and small.num_features == 1280
    classifier = sum(p.numel() for p in reference.classifier.parameters())
    assert sum(p.numel() for p in small.parameters()) == sum(p.numel() for p in reference.parameters()) - classifier
    assert conv_flops(small, 224) == conv_flops(reference.features, 224)


def test_make_divisible() -> None:
    assert [make_divisible(32 * w) for w in WIDTHS] == [32, 24, 16, 8]
    assert make_divisible(16 * 0.25) == 8 and make_divisible(1280 * 0.75) == 960 and make_divisible(20) == 24

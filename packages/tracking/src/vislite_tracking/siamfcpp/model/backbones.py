"""SiamFC++ backbones on raw BGR 0-255 crops, all at total stride 8 with ``head_width`` output channels:
AlexNet (BN), GoogLeNet (pruned Inception-v3 trunk up to Mixed_6e), ShuffleNetV2 (x1.0 / x0.5) and a tiny
test network. Module names follow video_analyst's so its released weights map one to one."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models.inception import BasicConv2d, InceptionA, InceptionB, InceptionC

from vislite_tracking.siamfcpp.model.blocks import ConvBNReLU


def crop_border(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Drop ``pad`` feature cells on every side (the padded border of the deeper backbones)."""
    return x[:, :, pad : x.shape[2] - pad, pad : x.shape[3] - pad] if pad > 0 else x


def bgr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) BGR -> RGB."""
    return x.flip(1)


class AlexNet(nn.Module):
    """SiamFC++'s AlexNet with BN: conv 11/2, pool, conv 5, pool, conv 3 x 3 (last without ReLU); raw input."""

    def __init__(self, widths: Sequence[int] = (96, 256, 384, 384, 256)) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        self.conv1 = ConvBNReLU(3, c1, stride=2, kernel_size=11)
        self.pool1 = nn.MaxPool2d(3, 2, 0, ceil_mode=True)
        self.conv2 = ConvBNReLU(c1, c2, kernel_size=5)
        self.pool2 = nn.MaxPool2d(3, 2, 0, ceil_mode=True)
        self.conv3 = ConvBNReLU(c2, c3)
        self.conv4 = ConvBNReLU(c3, c4)
        self.conv5 = ConvBNReLU(c4, c5, relu=False)
        self.out_channels = c5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.conv2(x))
        return self.conv5(self.conv4(self.conv3(x)))


class Inception3(nn.Module):
    """Pruned Inception-v3 (stem without the second max-pool, Mixed_5b .. Mixed_6e), border crop, 1x1 reduce.

    Input: BGR 0-255, turned into RGB in [-1, 1] (``(x - 127.5) / 127.5``) as video_analyst does.
    """

    def __init__(self, head_width: int = 256, crop_pad: int = 4) -> None:
        super().__init__()
        self.crop_pad = crop_pad
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.channel_reduce = nn.Sequential(nn.Conv2d(768, head_width, 1), nn.BatchNorm2d(head_width, eps=0.001))
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2)
        self.out_channels = head_width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (bgr_to_rgb(x) - 255 / 2) / (255 / 2)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(self.pool(x)))
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e"):
            x = getattr(self, f"Mixed_{name}")(x)
        return self.channel_reduce(crop_border(x, self.crop_pad))


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` groups."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)  # (B, C, H, W)


class ShuffleUnit(nn.Module):
    """ShuffleNetV2 unit; a "false stride" unit has the two-branch layout of a stride-2 unit but stride 1."""

    def __init__(self, inp: int, oup: int, stride: int, false_stride: bool = False) -> None:
        super().__init__()
        self.stride = stride
        half = oup // 2
        step = 1 if false_stride else stride
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(inp, inp, 3, step, 1, bias=False, groups=inp),
                nn.BatchNorm2d(inp),
                nn.Conv2d(inp, half, 1, 1, 0, bias=False),
                nn.BatchNorm2d(half),
                nn.ReLU(inplace=True),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else half, half, 1, 1, 0, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
            nn.Conv2d(half, half, 3, step, 1, bias=False, groups=half),
            nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, 1, 0, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            keep, move = x.chunk(2, dim=1)
            out = torch.cat((keep, self.branch2(move)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2Trunk(nn.Module):
    """Stem + stages 2-4 (stages 3 and 4 keep stride 8), their outputs concatenated, cropped and reduced."""

    def __init__(self, channels: Sequence[int], head_width: int = 256, crop_pad: int = 4) -> None:
        super().__init__()
        self.crop_pad = crop_pad
        stem, *stages = channels
        self.conv1 = nn.Sequential(nn.Conv2d(3, stem, 3, 2, 1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inp = stem
        for name, repeats, out in zip(("stage2", "stage3", "stage4"), (4, 8, 4), stages):
            units = [ShuffleUnit(inp, out, 2, false_stride=name != "stage2")]
            units += [ShuffleUnit(out, out, 1) for _ in range(repeats - 1)]
            setattr(self, name, nn.Sequential(*units))
            inp = out
        self.channel_reduce = nn.Sequential(
            nn.Conv2d(sum(stages), head_width, 1, 1, 0, bias=False), nn.BatchNorm2d(head_width), nn.ReLU(inplace=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        s2 = self.stage2(x)
        s3 = self.stage3(s2)
        s4 = self.stage4(s3)
        return self.channel_reduce(crop_border(torch.cat([s2, s3, s4], 1), self.crop_pad))


SHUFFLENET_CHANNELS = {"x1_0": (24, 116, 232, 464), "x0_5": (24, 48, 96, 192)}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ShuffleNetV2(nn.Module):
    """ShuffleNetV2 on BGR 0-255 input (RGB, /255, ImageNet mean / std); the trunk sits in ``_model``."""

    def __init__(self, width: str = "x1_0", head_width: int = 256, crop_pad: int = 4) -> None:
        super().__init__()
        if width not in SHUFFLENET_CHANNELS:
            raise ValueError(f"ShuffleNetV2 width: expected one of {sorted(SHUFFLENET_CHANNELS)}, got {width!r}")
        self._model = ShuffleNetV2Trunk(SHUFFLENET_CHANNELS[width], head_width, crop_pad)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.out_channels = head_width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._model((bgr_to_rgb(x) / 255 - self.mean.to(x.dtype)) / self.std.to(x.dtype))


class TinyConv(nn.Module):
    """Test backbone: three stride-2 3x3 conv-BN-ReLU layers and a 3x3 one (stride 8), input scaled by 1/255."""

    def __init__(self, width: int = 16, head_width: int = 32) -> None:
        super().__init__()
        self.conv1 = ConvBNReLU(3, width, stride=2, padding=1)
        self.conv2 = ConvBNReLU(width, 2 * width, stride=2, padding=1)
        self.conv3 = ConvBNReLU(2 * width, 2 * width, stride=2, padding=1)
        self.conv4 = ConvBNReLU(2 * width, head_width, padding=1, relu=False)
        self.out_channels = head_width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv4(self.conv3(self.conv2(self.conv1(x / 255))))

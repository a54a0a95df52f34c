"""ResNet + FPN backbones (torchvision's ``BackboneWithFPN``), ImageNet weights from a local file only."""

from __future__ import annotations

import os

from torch import nn
from torchvision.models import resnet50
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops import FrozenBatchNorm2d
from torchvision.ops.feature_pyramid_network import ExtraFPNBlock, LastLevelMaxPool, LastLevelP6P7

from vislite_common.checkpoint import extract_state_dict, load_into, remap_state_dict, safe_load
from vislite_detection.models.caffe_resnet import load_caffe_resnet_weights, use_caffe_strides

RESNET_STAGES = ("layer1", "layer2", "layer3", "layer4")
RESNET_STYLES = ("pytorch", "caffe")


class EvalBatchNorm2d(nn.BatchNorm2d):
    """Batch norm that always normalises with its running statistics (mmdetection's ``norm_eval=True``) while
    its scale and shift still train (unlike ``FrozenBatchNorm2d``)."""

    def train(self, mode: bool = True) -> EvalBatchNorm2d:
        return super().train(False)


def load_resnet_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load an ImageNet ResNet state dict (torchvision / timm layout, any wrapper) into ``model``.

    The classifier (``fc.*``) is ignored; every other key must match (a missing or unexpected key raises
    :class:`~vislite_common.checkpoint.CheckpointError` naming it).
    """
    state = remap_state_dict(extract_state_dict(safe_load(path)))
    state = {k: v for k, v in state.items() if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}
    load_into(model, state, allow_missing=("fc.",))
    return model


def freeze_stages(body: nn.Module, trainable_layers: int) -> None:
    """Freeze all but the last ``trainable_layers`` of (``conv1``, ``layer1`` ... ``layer4``), as torchvision does."""
    if not 0 <= trainable_layers <= 5:
        raise ValueError(f"trainable_layers must be in [0, 5], got {trainable_layers}")
    train = ["layer4", "layer3", "layer2", "layer1", "conv1"][:trainable_layers]
    if trainable_layers == 5:
        train.append("bn1")
    for name, parameter in body.named_parameters():
        if not name.startswith(tuple(train)):
            parameter.requires_grad_(False)


def resnet_with_fpn(
    body: nn.Module,
    *,
    stage_channels: tuple[int, int, int, int],
    returned_layers: tuple[int, ...],
    out_channels: int,
    extra_blocks: ExtraFPNBlock,
) -> BackboneWithFPN:
    """An FPN over the ResNet stages ``returned_layers`` (1-based) of ``body``; outputs named ``"0"``, ``"1"``, ..."""
    if not returned_layers or min(returned_layers) < 1 or max(returned_layers) > 4:
        raise ValueError(f"returned_layers must be stage numbers in [1, 4], got {returned_layers}")
    return_layers = {RESNET_STAGES[k - 1]: str(i) for i, k in enumerate(returned_layers)}
    in_channels = [stage_channels[k - 1] for k in returned_layers]
    return BackboneWithFPN(body, return_layers, in_channels, out_channels, extra_blocks=extra_blocks)


def extra_fpn_levels(kind: str, out_channels: int) -> ExtraFPNBlock:
    """``"p6p7"`` (FCOS/RetinaNet: P6, P7 by stride-2 convs on P5) or ``"maxpool"`` (Faster R-CNN's P6)."""
    if kind == "p6p7":
        return LastLevelP6P7(out_channels, out_channels)
    if kind == "maxpool":
        return LastLevelMaxPool()
    raise ValueError(f"extra FPN levels must be 'p6p7' or 'maxpool', got {kind!r}")


def resnet50_fpn(
    *,
    weights_backbone: str | os.PathLike | None = None,
    trainable_layers: int = 3,
    returned_layers: tuple[int, ...] = (2, 3, 4),
    extra: str = "p6p7",
    out_channels: int = 256,
    style: str = "pytorch",
    norm_eval: bool = False,
) -> BackboneWithFPN:
    """ResNet-50-FPN as in torchvision's detection builders.

    With ``weights_backbone`` (a local ImageNet ResNet-50 file) batch norm is frozen and only the last
    ``trainable_layers`` stages train; without, batch norm trains and every stage trains. ``norm_eval=True``
    (mmdetection's ``norm_eval``, its Faster R-CNN's setting) keeps batch norm in evaluation mode with trainable
    scale and shift in the trainable stages instead of torchvision's ``FrozenBatchNorm2d``. ``style="caffe"``:
    stride in the first 1x1 convolution of each downsampling block, weights from a detectron2 ``.pkl`` or an
    mmdetection ``caffe`` file (:mod:`.caffe_resnet`); it expects BGR 0-255 input (``DetectionTransform(style=
    "caffe")``).
    """
    if style not in RESNET_STYLES:
        raise ValueError(f"ResNet style must be one of {RESNET_STYLES}, got {style!r}")
    pretrained = weights_backbone is not None
    norm: type[nn.Module] = nn.BatchNorm2d
    if pretrained:
        norm = EvalBatchNorm2d if norm_eval else FrozenBatchNorm2d
    body = resnet50(weights=None, norm_layer=norm)
    if style == "caffe":
        use_caffe_strides(body)
    if pretrained:
        if style == "caffe":
            load_caffe_resnet_weights(body, weights_backbone)
        else:
            load_resnet_weights(body, weights_backbone)
    freeze_stages(body, trainable_layers if pretrained else 5)
    return resnet_with_fpn(
        body,
        stage_channels=(256, 512, 1024, 2048),
        returned_layers=returned_layers,
        out_channels=out_channels,
        extra_blocks=extra_fpn_levels(extra, out_channels),
    )


def tiny_resnet_fpn(
    *, returned_layers: tuple[int, ...] = (2, 3, 4), extra: str = "p6p7", out_channels: int = 32
) -> BackboneWithFPN:
    """Test-size ResNet-FPN: one basic block per stage, widths 16-32-64-128 (``test_vislite_resnet``)."""
    import timm

    import vislite_common  # noqa: F401  (registers test_vislite_resnet)

    body = timm.create_model("test_vislite_resnet", num_classes=0)
    return resnet_with_fpn(
        body,
        stage_channels=(16, 32, 64, 128),
        returned_layers=returned_layers,
        out_channels=out_channels,
        extra_blocks=extra_fpn_levels(extra, out_channels),
    )

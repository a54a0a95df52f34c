"""PDNet's head, losses, post-processing and detector: structure, hand-checked points and a training step."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from vislite_detection.models import create_detector, list_detectors
from vislite_detection.pdnet import CaffeTransform, PDNetHead, postprocess
from vislite_detection.pdnet.head import limit_offsets


def _zero_dyn_head(levels: int = 2) -> PDNetHead:
    head = PDNetHead(16, 3, num_convs=1, norm_groups=4)
    nn.init.zeros_(head.dyn_pt_pred.weight)
    nn.init.zeros_(head.dyn_pt_pred.bias)
    return head


class ConstantMaps(nn.Module):
    """A 1x1 'conv' returning a constant 4-channel map whose value depends on the level (by height)."""

    def __init__(self, values: dict[int, float]) -> None:
        super().__init__()
        self.values = values

    def forward(self, x: Tensor) -> Tensor:
        n, _, h, w = x.shape
        return x.new_full((n, 4, h, w), self.values[h])


def test_head_layout_and_prior() -> None:
    head = PDNetHead(32, 8, num_convs=2, norm_groups=8)
    assert head.dyn_pt_pred.out_channels == 34 and head.dyn_pt_pred.kernel_size == (3, 3)
    assert head.reg_map_pred.out_channels == 4 and head.reg_map_pred.bias is None
    assert head.cls_map_pred.out_channels == 9 * 8 and head.cls_map_pred.bias is None
    assert torch.sigmoid(head.cls_collect_bias).allclose(torch.full((8,), 0.01))
    convs = [m for m in head.reg_tower if isinstance(m, nn.Conv2d)]
    assert len(convs) == 2 and all(c.bias is None for c in convs)
    assert any(isinstance(m, nn.GroupNorm) and m.num_groups == 8 for m in head.cls_tower)
    features = [torch.randn(2, 32, 8, 8), torch.randn(2, 32, 4, 4), torch.randn(2, 32, 1, 1)]
    out = head(features)
    assert [tuple(t.shape) for t in out["cls_logits"]] == [(2, 8, 8, 8), (2, 8, 4, 4), (2, 8, 1, 1)]
    assert out["reg_boxes"][2].shape == (2, 4, 1, 1) and out["semantic_points"][0].shape == (2, 18, 8, 8)


def test_points_of_the_anchor_box() -> None:
    head = _zero_dyn_head()
    head.reg_map_pred = ConstantMaps({8: 0.0})  # type: ignore[assignment]
    out = head([torch.randn(1, 16, 8, 8)])
    # zero offsets: the coarse box of cell (y, x) is the anchor pair (y - 2, x - 2, y + 2, x + 2)
    assert out["coarse_boxes"][0][0, :, 3, 5].tolist() == [1.0, 3.0, 5.0, 7.0]
    assert out["boundary_points"][0][0, :, 3, 5].tolist() == [1.0, 5.0, 3.0, 3.0, 5.0, 5.0, 3.0, 7.0]
    semantic = out["semantic_points"][0][0, :, 3, 5].reshape(9, 2).tolist()
    assert semantic == [[y, x] for y in (1.0, 3.0, 5.0) for x in (3.0, 5.0, 7.0)]
    assert out["reg_boxes"][0][0, :, 3, 5].tolist() == [1.0, 3.0, 5.0, 7.0]  # edges + sampled 0


def test_cross_level_attention() -> None:
    head = _zero_dyn_head()
    with torch.no_grad():
        head.dyn_pt_pred.bias[26::2] = math.log(3.0)  # (finer, current) logits -> softmax (0.75, 0.25)
    head.reg_map_pred = ConstantMaps({16: 2.0, 8: 1.0})  # type: ignore[assignment]
    out = head([torch.randn(1, 16, 16, 16), torch.randn(1, 16, 8, 8)])
    # cell (4, 4) of level 1: points (2,4) (4,2) (6,4) (4,6), x2 on level 0, all inside both maps
    value = 0.75 * (0.5 * 2.0) + 0.25 * 1.0
    assert out["reg_boxes"][1][0, :, 4, 4].tolist() == pytest.approx([2 + value, 2 + value, 6 + value, 6 + value])
    assert out["reg_boxes"][0][0, :, 8, 8].tolist() == pytest.approx([6 + 2.0, 6 + 2.0, 10 + 2.0, 10 + 2.0])


def test_straight_through_offset_clamp() -> None:
    box = torch.tensor([0.0, 0.0, 2.0, 4.0]).reshape(1, 4, 1, 1)  # h 2, w 4: limits 1.5 * (2, 1) = (3, 1.5)
    offset = torch.tensor([5.0, -5.0, 1.0, 0.5]).reshape(1, 4, 1, 1).requires_grad_()
    limited = limit_offsets(offset, box, 1.5)
    assert limited.flatten().tolist() == [3.0, -1.5, 1.0, 0.5]
    limited.sum().backward()
    assert offset.grad.flatten().tolist() == [1.0, 1.0, 1.0, 1.0]


def _batch() -> tuple[list[Tensor], list[dict[str, Tensor]]]:
    images = [torch.rand(3, 128, 128), torch.rand(3, 96, 112)]
    targets = [
        {"boxes": torch.tensor([[10.0, 20.0, 60.0, 80.0], [70.0, 70.0, 120.0, 110.0]]), "labels": torch.tensor([1, 3])},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)},
    ]
    return images, targets


def test_training_step_reaches_every_prediction() -> None:
    torch.manual_seed(0)
    model = create_detector("test_pdnet").train()
    images, targets = _batch()
    losses = model(images, targets)
    assert set(losses) == {"classification", "coarse", "regression"}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    dyn = model.head.dyn_pt_pred.weight.grad.abs().flatten(1).sum(1)  # [34]
    assert (dyn[:4] > 0).all()  # coarse boxes
    assert (dyn[4:8] > 0).all()  # boundary offsets, only through the collection's location gradient
    assert (dyn[8:26] > 0).all()  # semantic offsets, likewise
    assert (dyn[26:] > 0).all()  # cross-level attention
    assert model.head.cls_collect_bias.grad.abs().sum() > 0
    assert model.backbone.body.conv1.weight.grad is not None


def test_evaluation_outputs_and_points() -> None:
    model = create_detector("test_pdnet", detections_per_img=7).eval()
    with torch.no_grad():
        model.head.cls_collect_bias.fill_(2.0)
        out = model(_batch()[0])
    assert len(out) == 2
    det = out[1]
    assert det["boxes"].shape == (7, 4) and det["scores"].shape == (7,)
    assert det["labels"].min() >= 1 and det["labels"].max() <= 8
    assert (det["boxes"][:, 2:] >= det["boxes"][:, :2]).all()
    assert det["boxes"][:, 2].max() <= 111 and det["boxes"][:, 3].max() <= 95
    assert det["boundary_points"].shape == (7, 4, 2) and det["semantic_points"].shape == (7, 9, 2)


def test_postprocess_threshold_topk_labels() -> None:
    logits = torch.full((1, 2, 1, 3), -10.0)
    logits[0, 1, 0, 0] = math.log(0.05 / 0.95)  # exactly 0.05: not above the threshold
    logits[0, 0, 0, 2] = 0.0  # 0.5, class column 0 -> label 1
    logits[0, 1, 0, 1] = 1.0
    reg = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 1.0, 2.0], [0.0, 2.0, 1.0, 3.0]]).T.reshape(1, 4, 1, 3)
    outputs = {
        "cls_logits": [logits],
        "reg_boxes": [reg],
        "boundary_points": [torch.zeros(1, 8, 1, 3)],
        "semantic_points": [torch.zeros(1, 18, 1, 3)],
    }
    det = postprocess(outputs, [(8, 24)], strides=[8])[0]
    assert det["labels"].tolist() == [2, 1]
    assert det["boxes"].tolist() == [[8.0, 0.0, 16.0, 7.0], [16.0, 0.0, 23.0, 7.0]]
    one = postprocess(outputs, [(8, 24)], strides=[8], topk_candidates=1)[0]
    assert one["labels"].tolist() == [2]


def test_caffe_input() -> None:
    transform = CaffeTransform()
    pixel = torch.tensor([1.0, 0.0, 0.5]).reshape(3, 1, 1)  # RGB
    assert transform.normalize(pixel).flatten().tolist() == pytest.approx([127.5 - 102.9801, -115.9465, 255 - 122.7717])


def test_bad_targets_and_registry() -> None:
    assert {"pdnet_resnet50_fpn", "pdnet_resnet101_fpn", "pdnet_resnext101_64x4d_fpn", "test_pdnet"} <= set(
        list_detectors("")
    )
    model = create_detector("test_pdnet").train()
    images, targets = _batch()
    with pytest.raises(ValueError, match="one target dict per image"):
        model(images)
    with pytest.raises(ValueError, match="boxes"):
        model(images, [{"boxes": torch.zeros(4), "labels": torch.zeros(1)}, targets[1]])
    bad = [{**targets[0], "labels": torch.tensor([1, 9])}, targets[1]]
    with pytest.raises(ValueError, match="labels must be in 1..8"):
        model(images, bad)


def test_vit_variant_trains() -> None:
    model = create_detector("test_pdnet_vit").train()
    losses = model(*_batch())
    assert len(model.head(list(model.backbone(torch.zeros(1, 3, 64, 64)).values()))["cls_logits"]) == 4
    assert all(torch.isfinite(v) for v in losses.values())


def test_points_stay_float32_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    model = create_detector("test_pdnet").train()
    images, targets = _batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features = list(model.backbone(model.transform(images)[0].tensors).values())
        out = model.head(features)
        losses = model(images, targets)
    assert all(t.dtype == torch.float32 for t in out["coarse_boxes"] + out["semantic_points"] + out["cls_logits"])
    assert all(torch.isfinite(v) for v in losses.values())

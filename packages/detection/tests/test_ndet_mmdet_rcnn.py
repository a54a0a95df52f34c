"""Faster R-CNN as mmdetection 2.x runs it for NDet: mmcv RoIAlign, norm_eval batch norm, NDet's RPN top-k."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.models import resnet50
from torchvision.ops import FrozenBatchNorm2d

from vislite_detection.models import create_detector
from vislite_detection.models.faster_rcnn import faster_rcnn_resnet50_fpn
from vislite_detection.models.mmcv_roi_align import MMCVMultiScaleRoIAlign, map_roi_levels
from vislite_detection.models.resnet_fpn import EvalBatchNorm2d, resnet50_fpn
from vislite_detection.ndet import FasterRCNNBoxCorrector


def test_roi_levels_follow_the_finest_scale_56() -> None:
    sizes = torch.tensor([14.0, 111.9, 112.0, 224.0, 447.0, 448.0, 1000.0])
    boxes = torch.stack([torch.zeros(7), torch.zeros(7), sizes, sizes], dim=1)
    assert map_roi_levels(boxes, 4).tolist() == [0, 0, 1, 2, 2, 3, 3]


def test_roi_align_samples_half_pixel_aligned_with_adaptive_ratio() -> None:
    ramp = torch.arange(16.0).repeat(16, 1)[None, None]  # [1, 1, 16, 16]: value = x index
    features = {"0": ramp, "1": ramp[..., ::2, ::2]}
    pool = MMCVMultiScaleRoIAlign(["0", "1"], 7, featmap_strides=(4, 8))
    # RoI x 8..22 at stride 4: aligned start 8 / 4 - 0.5 = 1.5, bins of 0.5: bin j samples around 1.75 + 0.5 j
    out = pool(features, [torch.tensor([[8.0, 8.0, 22.0, 22.0]])], [(64, 64)])
    assert out.shape == (1, 1, 7, 7)
    torch.testing.assert_close(out[0, 0, 0], 1.75 + 0.5 * torch.arange(7.0))
    torch.testing.assert_close(out[0, 0, :, 3], torch.full((7,), 3.25))
    legacy = MMCVMultiScaleRoIAlign(["0", "1"], 7, featmap_strides=(4, 8), aligned=False, sampling_ratio=2)
    unaligned = legacy(features, [torch.tensor([[8.0, 8.0, 22.0, 22.0]])], [(64, 64)])
    torch.testing.assert_close(unaligned[0, 0, 0], 2.25 + 0.5 * torch.arange(7.0))


def test_faster_rcnn_trains_with_mmcv_roi_align() -> None:
    torch.manual_seed(0)
    model = create_detector("test_faster_rcnn", roi_align="mmcv").train()
    assert isinstance(model.roi_heads.box_roi_pool, MMCVMultiScaleRoIAlign)
    images = [torch.rand(3, 96, 128)]
    targets = [{"boxes": torch.tensor([[10.0, 12.0, 70.0, 80.0]]), "labels": torch.tensor([2])}]
    losses = model(images, targets)
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    with pytest.raises(ValueError, match="roi_align"):
        create_detector("test_faster_rcnn", roi_align="detectron2")


def test_norm_eval_trains_batch_norm_affine_in_the_trainable_stages(tmp_path: Path) -> None:
    path = tmp_path / "r50.pth"
    torch.save(resnet50(weights=None).state_dict(), path)
    body = faster_rcnn_resnet50_fpn(weights_backbone=path, norm_eval=True).train().backbone.body
    assert isinstance(body.layer4[0].bn1, EvalBatchNorm2d) and not body.layer4[0].bn1.training
    assert body.layer4[0].bn1.weight.requires_grad and not body.layer1[0].bn1.weight.requires_grad
    frozen = resnet50_fpn(weights_backbone=path).body
    assert isinstance(frozen.layer4[0].bn1, FrozenBatchNorm2d)


GT = torch.tensor([[4.0, 4.0, 24.0, 24.0], [30.0, 30.0, 50.0, 50.0]])
PROPOSALS = torch.tensor(
    [
        [4.0, 4.0, 24.0, 24.0],  # 0: IoU 1.0 with box 0, objectness 0.6
        [4.0, 4.0, 24.0, 20.0],  # 1: IoU 0.8 with box 0, objectness 0.8
        [4.0, 4.0, 24.0, 12.0],  # 2: IoU 0.4 with box 0, objectness 0.99
        [30.0, 30.0, 50.0, 50.0],  # 3: IoU 1.0 with box 1, objectness 0.7
        [4.0, 4.0, 24.0, 16.0],  # 4: IoU 0.6 with box 0, objectness 0.3
    ]
)
OBJECTNESS = torch.tensor([0.6, 0.8, 0.99, 0.7, 0.3])


def _corrector(**kwargs: int) -> FasterRCNNBoxCorrector:
    torch.manual_seed(0)
    return FasterRCNNBoxCorrector(teacher=create_detector("test_faster_rcnn"), fill_quota=True, **kwargs)


def test_ndet_rpn_top_k_fills_each_quota_with_zero_weight_proposals() -> None:
    index, valid = _corrector(proposals_per_box=2).select_proposals(GT, PROPOSALS, OBJECTNESS)
    assert index[0].tolist() == [1, 0] and index[1, 0] == 3
    assert valid.all()  # box 1 takes a second proposal of weight 0 (none other has IoU > 0.5 with it)
    assert int(index[1, 1]) != 3
    index, valid = _corrector(proposals_per_box=4).select_proposals(GT, PROPOSALS, OBJECTNESS)
    assert index[0].tolist()[:3] == [1, 0, 4] and valid.sum() == 8  # 2 (IoU 0.4) only as a zero-weight filler


def test_ndet_image_cap_keeps_the_largest_weights() -> None:
    # 2 boxes x 2 = 4 selections > 3: the zero-weight filler of box 1 goes, weights 0.8, 0.6, 0.7 stay
    index, valid = _corrector(proposals_per_box=2, max_proposals=3).select_proposals(GT, PROPOSALS, OBJECTNESS)
    assert sorted(index[valid].tolist()) == [0, 1, 3]

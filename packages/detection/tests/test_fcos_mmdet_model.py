"""The mmdetection-style FCOS detector: head, teacher decoding, Caffe ResNet-50 files, training on the world."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models import resnet50
from torchvision.models.detection.image_list import ImageList
from torchvision.models.resnet import Bottleneck, ResNet

from vislite_common.checkpoint import CheckpointError
from vislite_common.data.world import make_coco
from vislite_common.engine.compose import compose_config
from vislite_common.engine.train import train
from vislite_detection.fcos_mmdet.detector import MMDetFCOS
from vislite_detection.fcos_mmdet.head import MMDetFCOSHead
from vislite_detection.models import create_detector
from vislite_detection.models.caffe_resnet import load_caffe_resnet_weights, torchvision_names
from vislite_detection.models.resnet_fpn import EvalBatchNorm2d, resnet50_fpn
from vislite_detection.models.transform import DetectionTransform
from vislite_detection.ndet import FCOSBoxCorrector


def test_head_scales_per_level_in_stride_units_for_training_and_pixels_for_testing() -> None:
    torch.manual_seed(0)
    head = MMDetFCOSHead(16, 3, strides=(8, 16), num_convs=1, norm_groups=4)
    assert len(head.scales) == 2 and all(s.scale.item() == 1.0 for s in head.scales)
    assert head.conv_cls.bias[0].item() == pytest.approx(-np.log(99))
    with torch.no_grad():
        head.scales[1].scale.fill_(2.5)
        head.conv_reg.weight.normal_(std=1.0)
    features = [torch.randn(2, 16, 4, 4), torch.randn(2, 16, 2, 2)]
    cls, train_box, ctr = head.train()(features)
    raw = head.conv_reg(head.reg_convs(features[1]))
    torch.testing.assert_close(train_box[1], torch.relu(raw * 2.5))
    assert (train_box[0] >= 0).all() and (train_box[0] == 0).any()
    _, test_box, _ = head.eval()(features)
    _, train_again, _ = head.train()(features)  # GroupNorm: the same in both modes
    torch.testing.assert_close(test_box[0], train_again[0] * 8)
    torch.testing.assert_close(test_box[1], train_again[1] * 16)
    assert [tuple(c.shape) for c in cls] == [(2, 3, 4, 4), (2, 3, 2, 2)] and ctr[1].shape == (2, 1, 2, 2)


def test_fcos_head_is_selectable_and_maps_coco_labels() -> None:
    model = create_detector("test_fcos", head="mmdet", score_thresh=0.0)
    assert isinstance(model, MMDetFCOS) and model.head.num_classes == 8  # labels 1..8, no column for 0
    assert model.regress_ranges[-1] == (512.0, 1e8) and model.nms_iou == 0.6
    images = [torch.rand(3, 128, 128), torch.rand(3, 96, 128)]
    targets = [
        {"boxes": torch.tensor([[10.0, 10.0, 60.0, 70.0]]), "labels": torch.tensor([8])},
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)},
    ]
    losses = model.train()(images, targets)
    assert set(losses) == {"loss_cls", "loss_bbox", "loss_centerness"}
    sum(losses.values()).backward()
    assert model.head.scales[0].scale.grad is not None
    with pytest.raises(ValueError, match="gt_labels"):
        model(images, [{**targets[0], "labels": torch.tensor([0])}, targets[1]])
    out = model.eval()(images)
    assert len(out) == 2 and int(out[0]["labels"].min()) >= 1 and int(out[0]["labels"].max()) <= 8
    assert float(out[1]["boxes"][:, 3].max()) <= 96  # clamped to the unpadded image
    with pytest.raises(ValueError, match="head"):
        create_detector("test_fcos", head="detectron")


def test_mmdet_teacher_decodes_once_at_half_stride_points_without_clipping() -> None:
    torch.manual_seed(0)
    teacher = create_detector("test_fcos", head="mmdet")
    images = ImageList(torch.randn(1, 3, 64, 64), [(64, 64)])
    corrector = FCOSBoxCorrector(teacher=teacher)
    assert not corrector.clip_boxes and not corrector.teacher.training
    with torch.no_grad():
        for scale in teacher.head.scales:
            scale.scale.fill_(0.0)
        teacher.head.conv_reg.bias.fill_(1.0)  # Scale 0: every distance is 0, boxes collapse onto the points
    [(boxes, probs, ctr)] = corrector.predict(images)
    assert boxes.shape == (64 + 16 + 4 + 1 + 1, 4) and probs.shape == (boxes.shape[0], 9)
    assert torch.equal(probs[:, 0], torch.zeros(boxes.shape[0]))
    assert boxes[:2].tolist() == [[4, 4, 4, 4], [12, 4, 12, 4]]  # points (j * 8 + 4, i * 8 + 4)
    assert boxes[64].tolist() == [8, 8, 8, 8] and boxes[80].tolist() == [16, 16, 16, 16]  # P4, P5: s // 2
    with torch.no_grad():
        for scale in teacher.head.scales:
            scale.scale.fill_(1.0)
        teacher.head.conv_reg.weight.zero_()
        teacher.head.conv_reg.bias.fill_(3.0)  # 3 stride units: 24 px at P3, 384 px at P7
    [(boxes, _, _)] = corrector.predict(images)
    assert boxes[0].tolist() == [4 - 24, 4 - 24, 4 + 24, 4 + 24]  # outside the 64 px image: not clipped
    assert boxes[-1].tolist() == [64 - 384, 64 - 384, 64 + 384, 64 + 384]  # P7 point (64, 64), x 128 once
    clipped = FCOSBoxCorrector(teacher=teacher, clip_boxes=True).predict(images)[0][0]
    assert clipped[0].tolist() == [0, 0, 28, 28]


def test_teacher_fusion_options_reach_the_rule() -> None:
    teacher = create_detector("test_fcos", head="mmdet")
    corrector = FCOSBoxCorrector(teacher=teacher, fusion={"rule": "exp", "topk": 5}, iou_thr=0.01)
    images = ImageList(torch.randn(1, 3, 64, 64), [(64, 64)])
    targets = [{"boxes": torch.tensor([[8.0, 8.0, 40.0, 40.0]]), "labels": torch.tensor([2])}]
    out = corrector(images, targets)
    assert out[0]["boxes"].shape == (1, 4) and torch.equal(out[0]["noisy_boxes"], targets[0]["boxes"])


def _caffe2_names(state: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """A torchvision ResNet-50 state dict under MSRA / Caffe2 names (affine batch norm only), as numpy."""
    out = {"conv1_w": state["conv1.weight"], "res_conv1_bn_s": state["bn1.weight"], "res_conv1_bn_b": state["bn1.bias"]}
    for key, value in state.items():
        if not key.startswith("layer"):
            continue
        parts = key.split(".")  # layer{s}.{b}.{conv2|bn2|downsample}.{...}
        stage, block = int(parts[0][5:]) + 1, parts[1]
        module = parts[2] if parts[2] != "downsample" else ("downsample0" if parts[3] == "0" else "downsample1")
        field = parts[-1]
        branch = {"conv1": "2a", "bn1": "2a", "conv2": "2b", "bn2": "2b", "conv3": "2c", "bn3": "2c"}
        branch |= {"downsample0": "1", "downsample1": "1"}
        if field in ("running_mean", "running_var", "num_batches_tracked"):
            continue
        suffix = (
            "w" if module.startswith("conv") or module == "downsample0" else {"weight": "bn_s", "bias": "bn_b"}[field]
        )
        out[f"res{stage}_{block}_branch{branch[module]}_{suffix}"] = value
    out["fc1000_w"], out["fc1000_b"] = state["fc.weight"], state["fc.bias"]
    return {k: v.numpy() for k, v in out.items()}


def _small_bottleneck_resnet() -> ResNet:
    """A ResNet with ResNet-50's layout of names (bottlenecks, downsample branches) but one block per stage."""
    return ResNet(Bottleneck, [1, 1, 1, 1], width_per_group=8)


def _write(layout: str, state: dict[str, torch.Tensor], tmp_path: Path) -> Path:
    """``state`` (torchvision names) written as a detectron2 Caffe2 / detectron2-named pickle or an mmdet file."""
    arrays = _caffe2_names(state)
    if layout == "caffe2_pkl":
        path = tmp_path / "R-50.pkl"
        path.write_bytes(pickle.dumps({"model": arrays, "__author__": "MSRA"}))
    elif layout == "detectron2_pkl":
        renamed = {}
        for key, value in arrays.items():
            key = key.replace("conv1_w", "stem.conv1.weight").replace("res_conv1_bn_s", "stem.conv1.norm.weight")
            key = key.replace("res_conv1_bn_b", "stem.conv1.norm.bias")
            for old, new in (
                ("branch2a", "conv1"),
                ("branch2b", "conv2"),
                ("branch2c", "conv3"),
                ("branch1", "shortcut"),
            ):
                key = key.replace(old, new)
            key = key.replace("_bn_s", ".norm.weight").replace("_bn_b", ".norm.bias").replace("_w", ".weight")
            renamed[key.replace("_", ".", 2) if key.startswith("res") else key] = value
        path = tmp_path / "R-50-d2.pkl"
        path.write_bytes(pickle.dumps({"model": renamed}))
    else:
        path = tmp_path / "resnet50_caffe.pth"
        torch.save({"state_dict": {k: v for k, v in state.items() if not k.startswith("fc.")}}, path)
    return path


@pytest.mark.parametrize("layout", ["caffe2_pkl", "detectron2_pkl", "mmdet_pth"])
def test_caffe_resnet_files_load_under_torchvision_names(layout: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = _small_bottleneck_resnet().state_dict()
    model = load_caffe_resnet_weights(_small_bottleneck_resnet(), _write(layout, state, tmp_path))
    loaded = model.state_dict()
    for key in ("conv1.weight", "bn1.bias", "layer3.0.conv2.weight", "layer2.0.downsample.1.weight"):
        assert torch.equal(loaded[key], state[key]), key
    if layout != "mmdet_pth":  # Caffe batch norm: scale and shift only
        assert float(loaded["layer1.0.bn1.running_var"].sum()) == 8.0
        assert float(loaded["bn1.running_mean"].abs().sum()) == 0


def test_caffe_resnet50_fpn_from_a_detectron2_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = resnet50(weights=None).state_dict()
    backbone = resnet50_fpn(weights_backbone=_write("caffe2_pkl", state, tmp_path), style="caffe")
    body = backbone.body
    assert torch.equal(body.layer4[2].conv3.weight, state["layer4.2.conv3.weight"])
    for stage in (body.layer2, body.layer3, body.layer4):
        assert stage[0].conv1.stride == (2, 2) and stage[0].conv2.stride == (1, 1)
    assert not body.layer1[0].conv1.weight.requires_grad and body.layer4[0].conv1.weight.requires_grad
    out = backbone(torch.randn(1, 3, 64, 64))
    assert [tuple(v.shape[-2:]) for v in out.values()] == [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]


def test_caffe_files_with_other_objects_or_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"model": {"conv1_w": np.zeros(3)}, "hook": Path("x")}))
    with pytest.raises(CheckpointError, match="evil.pkl"):
        load_caffe_resnet_weights(torch.nn.Linear(1, 1), path)
    path = tmp_path / "other.pkl"
    path.write_bytes(pickle.dumps({"model": {"backbone.foo": np.zeros(3)}}))
    with pytest.raises(CheckpointError, match="no ResNet weights"):
        load_caffe_resnet_weights(torch.nn.Linear(1, 1), path)
    renamed = torchvision_names({"res2_0_branch2a_bn_rm": torch.ones(2), "res5_2_branch2c_bn_riv": torch.ones(2)})
    assert sorted(renamed) == ["layer1.0.bn1.running_mean", "layer4.2.bn3.running_var"]


def test_caffe_input_is_bgr_0_255_minus_the_mean_with_std_1() -> None:
    transform = DetectionTransform(style="caffe")
    image = torch.zeros(3, 2, 2)
    image[0] = 1.0  # pure red
    out = transform.normalize(image)
    assert out[:, 0, 0].tolist() == pytest.approx([-103.53, -116.28, 255.0 - 123.675])
    assert DetectionTransform().normalize(image)[0, 0, 0] == pytest.approx((1 - 0.485) / 0.229)


def test_norm_eval_batch_norm_trains_its_affine_but_keeps_statistics() -> None:
    norm = EvalBatchNorm2d(4).train()
    assert not norm.training
    before = norm.running_mean.clone()
    norm(torch.randn(2, 4, 3, 3) + 5)
    assert torch.equal(norm.running_mean, before) and norm.weight.requires_grad


WORLD = dict(seed=0, image_size=128, num_train=48, num_val=16)


def test_mmdet_fcos_learns_on_the_embedded_world(tmp_path_factory: pytest.TempPathFactory) -> None:
    world = make_coco(tmp_path_factory.mktemp("data") / "world" / "coco", **WORLD)
    out = tmp_path_factory.mktemp("fcos_mmdet")
    overrides = [
        "model=test_fcos",
        "model.model.head=mmdet",
        "trainer=cpu",
        "trainer.precision=32",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "trainer.log_every_n_steps=1",
        "+trainer.num_sanity_val_steps=0",
        "trainer.max_epochs=8",
        "trainer.check_val_every_n_epoch=8",
        f"paths.data_dir={world.parent.parent}",
        f"data.num_train={WORLD['num_train']}",
        f"data.num_val={WORLD['num_val']}",
        "data.batch_size=8",
        "callbacks.model_checkpoint=null",
        "callbacks.lr_monitor=null",
        "test=false",
    ]
    metrics = train(compose_config("vislite_detection.configs", overrides, output_dir=out))
    with open(out / "csv" / "metrics.csv", newline="") as handle:
        losses = [float(r["train/loss_epoch"]) for r in csv.DictReader(handle) if r.get("train/loss_epoch")]
    assert len(losses) == 8 and losses[-1] < 0.8 * losses[0], losses
    # the prior-box detector scores 0 on this world; measured: AP 0.029, AP50 0.079
    assert metrics["val/AP"] > 0.02 and metrics["val/AP50"] > 0.04, metrics


def test_an_exact_mmdet_teacher_pulls_noisy_boxes_straight_towards_the_clean_ones() -> None:
    """A teacher whose every point inside a clean box predicts that box exactly (pixel distances from its
    half-stride point, class 0.95, centerness 0.88): each corrected box lies on the segment noisy -> clean."""
    teacher = create_detector("test_fcos", head="mmdet").eval()
    clean = torch.tensor([[10.0, 12.0, 70.0, 90.0], [80.0, 20.0, 120.0, 60.0]])
    noisy = clean + torch.tensor([[3.0, -4.0, 5.0, 2.0], [-2.0, 3.0, -4.0, 5.0]])
    labels = torch.tensor([2, 5])
    sizes = [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    cls, box, ctr = [], [], []
    for (h, w), stride in zip(sizes, teacher.strides):
        ys, xs = torch.meshgrid(
            torch.arange(h) * stride + stride // 2, torch.arange(w) * stride + stride // 2, indexing="ij"
        )
        logits = torch.full((1, 8, h, w), -8.0)
        dist = torch.zeros(1, 4, h, w)
        for b, lab in zip(clean.flip(0), labels.flip(0)):  # the smaller (second) box wins where both hold
            inside = (xs > b[0]) & (xs < b[2]) & (ys > b[1]) & (ys < b[3])
            logits[0, :, inside] = -8.0
            logits[0, lab - 1, inside] = 3.0
            d = torch.stack([xs - b[0], ys - b[1], b[2] - xs, b[3] - ys])  # [4, h, w]
            dist[0][:, inside] = d[:, inside].float()
        cls.append(logits)
        box.append(dist)
        ctr.append(torch.full((1, 1, h, w), 2.0))
    teacher.head_outputs = lambda images: (cls, box, ctr)  # type: ignore[method-assign]
    images = ImageList(torch.zeros(1, 3, 128, 128), [(128, 128)])
    out = FCOSBoxCorrector(teacher=teacher)(images, [{"boxes": noisy, "labels": labels}])[0]["boxes"]
    shift, remaining = noisy - clean, out - clean  # corrected - clean = (noisy - clean) / (1 + sum of weights)
    ratio = remaining / shift
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-5) and (ratio < 0.2).all()

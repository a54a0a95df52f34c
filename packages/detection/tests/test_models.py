"""Detectors: registry, builds, COCO test settings, parameter counts, local weight loading (ResNet, ViT, whole)."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from torchvision.models import resnet50
from torchvision.models.detection import fasterrcnn_resnet50_fpn, fcos_resnet50_fpn

from vislite_common.checkpoint import CheckpointError
from vislite_detection import models
from vislite_detection.models import (
    SimpleFeaturePyramid,
    create_detector,
    detector_state,
    faster_rcnn_resnet50_fpn,
    list_detectors,
    load_detector_weights,
)

TINY = list_detectors("test_")


def _images() -> list[torch.Tensor]:
    torch.manual_seed(0)
    return [torch.rand(3, 96, 128), torch.rand(3, 128, 96)]


def _targets() -> list[dict[str, torch.Tensor]]:
    boxes = torch.tensor([[10.0, 12.0, 60.0, 70.0], [50.0, 20.0, 90.0, 60.0]])
    masks = torch.zeros(2, 96, 128, dtype=torch.uint8)  # box-filled instance masks (RDSNet trains on masks)
    masks[0, 12:70, 10:60] = 1
    masks[1, 20:60, 50:90] = 1
    return [
        {"boxes": boxes, "labels": torch.tensor([1, 8]), "masks": masks},
        {
            "boxes": torch.zeros(0, 4),
            "labels": torch.zeros(0, dtype=torch.int64),
            "masks": torch.zeros(0, 128, 96, dtype=torch.uint8),
        },  # an image with no objects
    ]


def test_registry_lists_every_family_and_rejects_unknown_names() -> None:
    assert set(list_detectors()) >= {
        "fcos_resnet50_fpn",
        "faster_rcnn_resnet50_fpn",
        "fcos_vit_tiny_sfp",
        "faster_rcnn_vit_tiny_sfp",
        "test_fcos",
        "test_faster_rcnn",
        "test_fcos_vit",
    }
    with pytest.raises(ValueError, match="unknown detector 'fcos_r18'.*test_fcos"):
        create_detector("fcos_r18")


@pytest.mark.parametrize("name", TINY)
def test_tiny_detectors_train_and_detect(name: str) -> None:
    model = create_detector(name, num_classes=9)
    model.train()
    losses = model(_images(), _targets())
    loss = sum(losses.values())
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    model.eval()
    with torch.no_grad():
        out = model(_images())
    assert len(out) == 2
    for image, det in zip(_images(), out):
        assert det["boxes"].shape[1] == 4 and len(det["boxes"]) <= 100
        assert (det["scores"] >= 0.05).all()
        assert (det["labels"] >= 1).all() and (det["labels"] <= 8).all()  # never the background index 0
        assert (det["boxes"][:, 2:] <= torch.tensor(image.shape[-1:-3:-1]) + 1e-4).all()  # in the given image
    with torch.no_grad():
        assert len(model([torch.rand(3, 128, 128)])) == 1  # one image whose coarsest level is 1 x 1


@pytest.fixture(scope="module")
def resnet50_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torchvision ResNet-50 ImageNet-layout state dict on disk (random weights: nothing is downloaded)."""
    path = tmp_path_factory.mktemp("weights") / "resnet50.pth"
    torch.manual_seed(0)
    torch.save(resnet50(weights=None).state_dict(), path)
    return path


def test_r50_fpn_detectors_sizes_and_coco_settings(resnet50_file: Path) -> None:
    def count(model: torch.nn.Module) -> int:
        return sum(p.numel() for p in model.parameters())

    # torchvision's published sizes (91 classes, frozen batch norm): FCOS 32,269,600, Faster R-CNN 41,755,286
    fcos = models.fcos_resnet50_fpn(num_classes=91, weights_backbone=resnet50_file)
    assert count(fcos) == 32_269_600
    rcnn = faster_rcnn_resnet50_fpn(num_classes=91, weights_backbone=resnet50_file)
    assert count(rcnn) == 41_755_286
    # COCO test settings: score threshold 0.05 (torchvision's FCOS default is 0.2), 100 detections
    assert (fcos.score_thresh, fcos.nms_thresh, fcos.detections_per_img, fcos.topk_candidates) == (0.05, 0.6, 100, 1000)
    heads = rcnn.roi_heads
    assert (heads.score_thresh, heads.nms_thresh, heads.detections_per_img) == (0.05, 0.5, 100)
    # from scratch (trainable batch norm) they equal torchvision's builders without weights
    assert count(models.fcos_resnet50_fpn(num_classes=91)) == count(
        fcos_resnet50_fpn(weights=None, weights_backbone=None)
    )
    scratch_rcnn = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)
    assert count(faster_rcnn_resnet50_fpn(num_classes=91)) == count(scratch_rcnn)
    # the backbone weights are the file's, the first stages frozen (trainable_layers=3)
    state = torch.load(resnet50_file, weights_only=True)
    body = fcos.backbone.body
    assert torch.equal(body.layer4[0].conv1.weight, state["layer4.0.conv1.weight"])
    assert not body.layer1[0].conv1.weight.requires_grad and body.layer2[0].conv1.weight.requires_grad


def test_resnet_weights_with_wrong_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "stem.extra": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match="stem.extra"):
        models.fcos_resnet50_fpn(weights_backbone=path)


def test_simple_feature_pyramid_strides_and_any_input_size() -> None:
    model = create_detector("fcos_vit_tiny_sfp", num_classes=81)
    assert isinstance(model.backbone, SimpleFeaturePyramid)
    assert model.backbone.encoder.embed_dim == 192 and len(model.backbone.encoder.blocks) == 12
    assert model.backbone.encoder.blocks[0].attn.num_heads == 12  # MAE-Lite's ViT-Tiny
    with torch.no_grad():
        feats = model.backbone(torch.rand(1, 3, 192, 256))
    assert [tuple(f.shape[-2:]) for f in feats.values()] == [(24, 32), (12, 16), (6, 8), (3, 4), (2, 2)]  # P3-P7
    rcnn = create_detector("faster_rcnn_vit_tiny_sfp")
    with torch.no_grad():
        feats = rcnn.backbone(torch.rand(1, 3, 128, 160))
    assert list(feats) == ["0", "1", "2", "3", "pool"]
    assert [tuple(f.shape[-2:]) for f in feats.values()] == [(32, 40), (16, 20), (8, 10), (4, 5), (2, 3)]  # P2-P6


def _encoder_layouts(encoder: torch.nn.Module) -> dict[str, object]:
    """The same encoder in the checkpoint layouts a pre-trained MAE-lite ViT comes in."""
    state = {k: v.clone() for k, v in encoder.state_dict().items()}
    decoder = {"mask_token": torch.zeros(1, 1, 16), "decoder_embed.weight": torch.zeros(16, 32)}
    return {
        "mae_lite_release": {"model": {f"model.{k}": v for k, v in {**state, **decoder}.items()}, "epoch": 400},
        "vislite_lightning": {
            "state_dict": {
                **{f"model.encoder.{k}": v for k, v in state.items()},
                "model.decoder_embed.weight": decoder["decoder_embed.weight"],
            },
            "epoch": 3,
        },
        "timm_state_dict": {**state, "head.weight": torch.zeros(10, 32), "head.bias": torch.zeros(10)},
    }


@pytest.mark.parametrize("layout", ["mae_lite_release", "vislite_lightning", "timm_state_dict"])
def test_pretrained_vit_encoders_plug_in(layout: str, tmp_path: Path) -> None:
    torch.manual_seed(1)
    source = timm.create_model("test_vislite_vit", num_classes=0)
    path = tmp_path / f"{layout}.pth"
    torch.save(_encoder_layouts(source)[layout], path)
    model = models.test_fcos_vit(init=str(path))
    encoder = model.backbone.encoder
    for key in ("cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.3.mlp.fc2.bias"):
        assert torch.equal(encoder.state_dict()[key], source.state_dict()[key]), key
    fresh = models.test_fcos_vit()
    assert not torch.equal(fresh.backbone.encoder.blocks[0].attn.qkv.weight, source.blocks[0].attn.qkv.weight)


def test_vit_file_without_an_encoder_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "not_a_vit.pth"
    torch.save({"conv1.weight": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match=r"not_a_vit\.pth.*patch_embed\.proj\.weight"):
        models.test_fcos_vit(init=str(path))


def test_whole_detector_round_trips_through_a_lightning_style_file(tmp_path: Path) -> None:
    torch.manual_seed(2)
    model = create_detector("test_fcos").eval()
    path = tmp_path / "det.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}, "epoch": 1}, path)
    assert set(detector_state(path)) == set(model.state_dict())
    torch.manual_seed(3)
    other = load_detector_weights(create_detector("test_fcos").eval(), path)
    with torch.no_grad():
        a, b = model(_images()), other(_images())
    assert torch.equal(a[0]["boxes"], b[0]["boxes"]) and torch.equal(a[1]["scores"], b[1]["scores"])

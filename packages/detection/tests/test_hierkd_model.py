"""HierKD's detector, teachers, class splits and ZSD / GZSD metrics on tiny inputs."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from vislite_common.data.world import make_coco
from vislite_detection.cli import main as det_cli
from vislite_detection.data import CocoDetection
from vislite_detection.hierkd import (
    CaptionBank,
    HierKD,
    OpenClipTeacher,
    WorldSurrogateTeacher,
    build_hierkd,
    load_class_split,
    ovd_metrics,
)
from vislite_detection.hierkd.lit import check_categories
from vislite_detection.models.resnet_fpn import tiny_resnet_fpn

SHAPES = ["circle", "square", "triangle", "star", "hexagon", "cross", "ring", "ellipse"]
TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 224, "layers": 1, "width": 64, "patch_size": 32, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_coco(tmp_path_factory.mktemp("hk") / "coco", seed=0, image_size=96, num_train=8, num_val=4)


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised open_clip CLIP written to a local file."""
    import open_clip

    torch.manual_seed(0)
    model = open_clip.CLIP(**TINY_CLIP)
    path = tmp_path_factory.mktemp("clip") / "tiny_clip.pt"
    torch.save(model.state_dict(), path)
    return path


def _seen_batch(world: Path, n: int = 2) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """Images and seen-only targets (labels 1..6 over the seen shapes) of the first ``n`` training images."""
    ds = CocoDetection(image_dir=world / "train", ann_file=world / "annotations" / "instances_train.json")
    seen = [s for s in SHAPES if s not in ("hexagon", "ring")]
    images, targets = [], []
    for i in range(n):
        image, t = ds[i]
        names = [SHAPES[int(label) - 1] for label in t["labels"]]
        keep = torch.tensor([name in seen for name in names], dtype=torch.bool)
        labels = torch.tensor([seen.index(n) + 1 for n in names if n in seen], dtype=torch.long)
        boxes = t["boxes"].as_subclass(torch.Tensor)[keep]
        images.append(image.as_subclass(torch.Tensor))
        targets.append({"boxes": boxes, "labels": labels, "image_id": torch.as_tensor(int(t["image_id"]))})
    return images, targets


def _model(world: Path, teacher: torch.nn.Module, **kw: object) -> HierKD:
    torch.manual_seed(0)
    kw.setdefault("captions", str(world / "annotations" / "captions_train.json"))
    return HierKD(
        backbone=tiny_resnet_fpn(out_channels=32),
        teacher=teacher,
        class_names=SHAPES,
        unseen_classes=["hexagon", "ring"],
        num_convs=1,
        norm_groups=8,
        **kw,
    )


# ---------------------------------------------------------------- teachers


def test_open_clip_teacher_from_a_local_file(clip_file: Path) -> None:
    teacher = OpenClipTeacher(checkpoint=clip_file, model_cfg=TINY_CLIP)
    assert teacher.width == 32
    assert not any(p.requires_grad for p in teacher.parameters())
    teacher.train()
    assert not teacher.training and not teacher.model.training
    text = teacher.encode_text(["a photo of a cat.", "a photo of background."])
    assert text.shape == (2, 32)
    image = teacher.encode_image(torch.randn(3, 3, 224, 224, dtype=torch.float64))
    assert image.shape == (3, 32) and image.dtype == torch.float64


def test_open_clip_teacher_bad_checkpoints(clip_file: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="teacher.checkpoint"):
        OpenClipTeacher(checkpoint=tmp_path / "absent.pt", model_cfg=TINY_CLIP)
    wider = {**TINY_CLIP, "embed_dim": 48}
    with pytest.raises(ValueError, match=r"tiny_clip\.pt is not a checkpoint of the .* architecture"):
        OpenClipTeacher(checkpoint=clip_file, model_cfg=wider)
    deeper = {**TINY_CLIP, "text_cfg": {**TINY_CLIP["text_cfg"], "layers": 2}}
    with pytest.raises(ValueError, match="architecture.*missing: transformer.resblocks.1"):
        OpenClipTeacher(checkpoint=clip_file, model_cfg=deeper)
    junk = tmp_path / "junk.pt"
    torch.save([1, 2], junk)
    with pytest.raises(ValueError, match="junk.pt: expected an open_clip state dict"):
        OpenClipTeacher(checkpoint=junk, model_cfg=TINY_CLIP)


def test_text_embeddings_are_cached_per_prompt_set() -> None:
    teacher = WorldSurrogateTeacher(width=16)
    calls: list[list[str]] = []
    original = teacher._encode_text

    def counting(texts: list[str]) -> torch.Tensor:
        calls.append(texts)
        return original(texts)

    teacher._encode_text = counting  # type: ignore[method-assign]
    a = teacher.text_embeddings(["a photo of a ring.", "a photo of a star."])
    b = teacher.text_embeddings(["a photo of a ring.", "a photo of a star."])
    teacher.text_embeddings(["a photo of a cross."])
    assert a is b and len(calls) == 2
    assert torch.allclose(a.norm(dim=1), torch.ones(2))
    # the surrogate's text space: plural and singular agree, function words do not count
    assert WorldSurrogateTeacher.words("Two rings in front of a cat.") == ["two", "ring", "cat"]


# ---------------------------------------------------------------- detector


def test_training_step_and_inference_with_the_open_clip_teacher(world: Path, clip_file: Path) -> None:
    teacher = OpenClipTeacher(checkpoint=clip_file, model_cfg=TINY_CLIP)
    model = _model(world, teacher)
    # the teacher is frozen and outside the parameters, the optimizer and the checkpoint
    assert all(not k.startswith("_teacher") and "model.visual" not in k for k in model.state_dict())
    assert not any(p is q for p in model.parameters() for q in teacher.parameters())
    model.train()
    assert not teacher.training
    images, targets = _seen_batch(world)
    losses = model(images, targets)
    assert set(losses) == {"classification", "cls_weight", "bbox_regression", "quality", "instance_kd", "global_kd"}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.tao.grad is not None and model.dist_featuremap_tem.grad is not None
    assert model.background.grad is not None and model.cls_weight.grad is not None
    assert model.tao.item() == 100.0 and model.dist_featuremap_tem.item() == 10.0
    model.eval()
    for mode, n in (("zsd", 2), ("gzsd", 8), ("seen", 6)):
        model.eval_mode = mode
        out = model(images)
        assert len(out) == 2 and out[0]["boxes"].shape[1] == 4
        assert len(model.eval_classes()) == n
        assert out[0]["labels"].numel() == 0 or int(out[0]["labels"].max()) <= n
        assert len(out[0]["scores"]) <= 100


def test_ablations_fixed_background_and_no_distillation(world: Path) -> None:
    model = _model(world, WorldSurrogateTeacher(width=16), background_embedding_fix=True, dist_instance=False,
                   dist_featuremap=False, captions=None)
    model.train()
    losses = model(*_seen_batch(world))
    assert "instance_kd" not in losses and "global_kd" not in losses
    assert not model.background.requires_grad


def test_bad_inputs_are_named(world: Path, tmp_path: Path) -> None:
    teacher = WorldSurrogateTeacher(width=16)
    images, targets = _seen_batch(world)
    # a caption file without this image's captions
    caps = tmp_path / "caps.json"
    caps.write_text(json.dumps({"annotations": [{"image_id": 999, "caption": "a ring"}]}))
    model = _model(world, teacher, captions=str(caps)).train()
    with pytest.raises(KeyError, match=r"no caption for image id 1 in .*caps\.json"):
        model(images, targets)
    with pytest.raises(ValueError, match="needs captions"):
        _model(world, teacher, captions=None)
    # labels beyond the seen classes (a training file with every class)
    model = _model(world, teacher).train()
    bad = [{**targets[0], "labels": torch.full_like(targets[0]["labels"], 8)}]
    with pytest.raises(ValueError, match=r"training labels must be 1\.\.6"):
        model(images[:1], bad)
    # a teacher whose text embeddings do not fit the class list
    broken = WorldSurrogateTeacher(width=16)
    broken._encode_text = lambda texts: torch.ones(1, 16)  # type: ignore[method-assign]
    with pytest.raises(ValueError, match="text embeddings for 6 classes"):
        _model(world, broken)
    with pytest.raises(ValueError, match="not among class_names"):
        HierKD(backbone=tiny_resnet_fpn(), teacher=teacher, class_names=SHAPES, unseen_classes=["dog"], captions=None,
               dist_featuremap=False)


def test_data_categories_must_match_the_class_embeddings(world: Path) -> None:
    full = SimpleNamespace(category_names=SHAPES, ann_file=Path("instances_train.json"))
    seen = [s for s in SHAPES if s not in ("hexagon", "ring")]
    check_categories(SimpleNamespace(category_names=seen), seen, "seen classes")
    with pytest.raises(ValueError, match=r"instances_train\.json: categories .* do not match the model's seen"):
        check_categories(full, seen, "seen classes")


# ---------------------------------------------------------------- splits and metrics


def test_shipped_class_splits() -> None:
    s48 = load_class_split("coco_48_17")
    s65 = load_class_split("coco_65_15")
    assert (len(s48["seen"]), len(s48["unseen"]), len(s65["seen"]), len(s65["unseen"])) == (48, 17, 65, 15)
    assert "cat" in s48["unseen"] and "hair drier" in s65["unseen"] and "person" in s48["seen"]
    teacher = WorldSurrogateTeacher(width=8)
    model = build_hierkd(teacher=teacher, class_split="coco_48_17", backbone="tiny_resnet_fpn", out_channels=32,
                         num_convs=1, norm_groups=8, dist_featuremap=False)
    assert model.class_names[:5] == ["person", "bicycle", "car", "motorcycle", "airplane"]
    assert len(model.class_names) == 65 and model.unseen_classes[0] == "airplane"
    with pytest.raises(FileNotFoundError, match="neither a shipped split"):
        load_class_split("coco_1_2")


def test_make_ovd_split_cli_and_metrics(world: Path, tmp_path: Path) -> None:
    ann = world / "annotations"
    rc = det_cli(["make-ovd-split", "--train", str(ann / "instances_train.json"), "--val",
                  str(ann / "instances_val.json"), "--split", str(ann / "class_split.json"), "--out", str(tmp_path)])
    assert rc == 0
    train = json.loads((tmp_path / "instances_train_seen.json").read_text())
    unseen = json.loads((tmp_path / "instances_val_unseen.json").read_text())
    both = json.loads((tmp_path / "instances_val_seen_unseen.json").read_text())
    assert [c["name"] for c in train["categories"]] == ["circle", "square", "triangle", "star", "cross", "ellipse"]
    assert [c["name"] for c in unseen["categories"]] == ["hexagon", "ring"]
    assert {a["category_id"] for a in unseen["annotations"]} <= {5, 7}
    assert {a["category_id"] for a in train["annotations"]}.isdisjoint({5, 7})
    assert {i["id"] for i in unseen["images"]} == {a["image_id"] for a in unseen["annotations"]}
    assert len(both["categories"]) == 8
    # perfect detections: every AP50 is 1; nothing detected: 0
    perfect = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
               for a in both["annotations"]]
    split = load_class_split(ann / "class_split.json")
    m = ovd_metrics(both, perfect, seen=split["seen"], unseen=split["unseen"])
    assert m == {"AP50_seen": 1.0, "AP50_unseen": 1.0, "AP50_hm": 1.0}
    only_seen = [r for r in perfect if r["category_id"] not in (5, 7)]
    m = ovd_metrics(both, only_seen, seen=split["seen"], unseen=split["unseen"])
    assert m["AP50_seen"] == 1.0 and m["AP50_unseen"] == 0.0 and m["AP50_hm"] == 0.0
    zsd = ovd_metrics(unseen, [r for r in perfect if r["category_id"] in (5, 7)], seen=[], unseen=split["unseen"])
    assert zsd["AP50_unseen"] == 1.0
    assert det_cli(["make-ovd-split", "--train", str(ann / "instances_train.json"), "--val",
                    str(ann / "instances_val.json"), "--split", "coco_48_17", "--out", str(tmp_path)]) == 2


def test_caption_bank(world: Path) -> None:
    bank = CaptionBank(world / "annotations" / "captions_train.json", seed=0)
    caps = bank.sample([1, 2, 1])
    assert len(caps) == 3 and all(isinstance(c, str) and c for c in caps)

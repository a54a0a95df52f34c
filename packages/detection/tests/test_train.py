"""Training on the embedded COCO world through ``train(cfg)``: FCOS and Faster R-CNN learn, box correction runs."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torchvision.models.detection import FCOS

from vislite_common.data.world import make_coco
from vislite_common.engine.compose import compose_config
from vislite_common.engine.train import train
from vislite_detection.data import CocoDetection
from vislite_detection.eval import CocoEvaluator
from vislite_detection.models import create_detector
from vislite_detection.ndet import FCOSBoxCorrector, with_box_correction
from vislite_detection.noise import add_box_noise

WORLD = dict(seed=0, image_size=128, num_train=48, num_val=16)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_coco(tmp_path_factory.mktemp("data") / "world" / "coco", **WORLD)


def _overrides(world: Path, out: Path, *extra: str) -> list[str]:
    return [
        "trainer=cpu",
        "trainer.precision=32",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "trainer.log_every_n_steps=1",
        "+trainer.num_sanity_val_steps=0",
        f"paths.data_dir={world.parent.parent}",
        f"data.num_train={WORLD['num_train']}",
        f"data.num_val={WORLD['num_val']}",
        "data.batch_size=8",
        "callbacks.model_checkpoint=null",
        "callbacks.lr_monitor=null",
        *extra,
    ]


def _run(world: Path, out: Path, *extra: str) -> dict[str, float]:
    cfg = compose_config("vislite_detection.configs", _overrides(world, out, *extra), output_dir=out)
    return train(cfg)


def _epoch_losses(out: Path) -> list[float]:
    with open(out / "csv" / "metrics.csv", newline="") as handle:
        return [float(row["train/loss_epoch"]) for row in csv.DictReader(handle) if row.get("train/loss_epoch")]


def prior_box_ap(world: Path) -> float:
    """AP of a trivial detector: every class at every image centre with the mean training box size."""
    train_set = json.loads((world / "annotations" / "instances_train.json").read_text())
    sizes = torch.tensor([a["bbox"][2:] for a in train_set["annotations"]]).mean(0)
    val = CocoDetection(image_dir=world / "val", ann_file=world / "annotations" / "instances_val.json")
    evaluator = CocoEvaluator(val.coco)
    for image_id in val.ids:
        info = val.coco.imgs[image_id]
        centre = torch.tensor([info["width"], info["height"]]) / 2
        box = torch.cat([centre - sizes / 2, centre + sizes / 2])
        labels = torch.arange(1, len(val.category_names) + 1)
        evaluator.update(
            [
                {
                    "image_id": image_id,
                    "boxes": box.repeat(len(labels), 1),
                    "scores": torch.ones(len(labels)),
                    "labels": labels,
                }
            ]
        )
    return evaluator.compute()["AP"]


@pytest.fixture(scope="module")
def fcos_run(world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    out = tmp_path_factory.mktemp("fcos")
    metrics = _run(
        world, out, "model=test_fcos", "trainer.max_epochs=8", "trainer.check_val_every_n_epoch=8", "test=true"
    )
    return out, metrics


def test_fcos_learns_on_the_embedded_world(world: Path, fcos_run: tuple[Path, dict[str, float]]) -> None:
    out, metrics = fcos_run
    losses = _epoch_losses(out)
    assert len(losses) == 8 and losses[-1] < 0.8 * losses[0]
    baseline = prior_box_ap(world)
    assert metrics["val/AP"] > max(0.02, 3 * baseline), (metrics["val/AP"], baseline)
    assert metrics["test/AP"] == pytest.approx(metrics["val/AP"])  # the test split defaults to val
    results = json.loads((out / "test_results.json").read_text())
    assert results and {"image_id", "category_id", "bbox", "score"} <= set(results[0])
    assert len(list((out / "visualisations").glob("*.png"))) == 4
    assert (out / "checkpoints" / "last.ckpt").is_file()


def test_faster_rcnn_learns_on_the_embedded_world(world: Path, tmp_path: Path) -> None:
    metrics = _run(
        world,
        tmp_path,
        "model=test_faster_rcnn",
        "trainer.max_epochs=8",
        "trainer.check_val_every_n_epoch=8",
        "test=false",
    )
    losses = _epoch_losses(tmp_path)
    assert len(losses) == 8 and losses[-1] < 0.8 * losses[0]
    # 48 steps from scratch: a small AP, but far above the prior-box detector's (0 on this world)
    assert metrics["val/AP"] > max(0.01, 3 * prior_box_ap(world)), metrics["val/AP"]
    assert metrics["val/AP50"] > 0.03, metrics["val/AP50"]


def test_teacher_student_training_runs_end_to_end(
    world: Path, fcos_run: tuple[Path, dict[str, float]], tmp_path: Path
) -> None:
    clean = json.loads((world / "annotations" / "instances_train.json").read_text())
    noisy = add_box_noise(clean, gamma=0.1, seed=0)
    (world / "annotations" / "instances_train_syn01.json").write_text(json.dumps(noisy))
    teacher = fcos_run[0] / "checkpoints" / "last.ckpt"
    metrics = _run(
        world,
        tmp_path,
        "model=test_fcos",
        "+teacher@model.corrector=fcos",
        f"model.corrector.teacher.checkpoint={teacher}",
        "data.train_ann=annotations/instances_train_syn01.json",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "test=false",
    )
    assert 0.5 < metrics["train/iou_noisy"] < 0.95  # gamma = 0.1 noise, measured against the clean boxes
    assert metrics["train/iou_corrected"] > 0.5
    assert torch.isfinite(torch.tensor(metrics["train/loss_epoch"]))


def test_an_oracle_teacher_moves_noisy_boxes_towards_the_clean_ones(
    world: Path, tmp_path: Path, make_oracle: Callable[..., FCOS]
) -> None:
    clean = json.loads((world / "annotations" / "instances_train.json").read_text())
    path = tmp_path / "noisy.json"
    path.write_text(json.dumps(add_box_noise(clean, gamma=0.1, seed=0)))
    dataset = CocoDetection(image_dir=world / "train", ann_file=path)
    images, targets = [], []
    for index in range(8):
        image, target = dataset[index]
        images.append(image.as_subclass(torch.Tensor))
        targets.append({key: target[key].as_subclass(torch.Tensor) for key in ("boxes", "labels", "clean_boxes")})
    student = create_detector("test_fcos")
    image_list, _ = student.transform(images, targets)
    oracle = make_oracle(image_list, [t["clean_boxes"] for t in targets], [t["labels"] for t in targets])
    student = with_box_correction(detector=student, corrector=FCOSBoxCorrector(teacher=oracle)).train()
    losses = student(images, targets)  # one training step of the student, on the corrected boxes
    sum(losses.values()).backward()
    quality = student.transform.box_quality
    assert 0.6 < quality["iou_noisy"] < 0.85
    assert quality["iou_corrected"] > quality["iou_noisy"] + 0.05, quality

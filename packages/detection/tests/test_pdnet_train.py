"""PDNet learns on the embedded world: its loss falls and its held-out AP beats a trivial detector."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from vislite_common.data.world import make_coco
from vislite_common.engine.compose import compose_config
from vislite_common.engine.train import train
from vislite_detection.data import CocoDetection
from vislite_detection.eval import CocoEvaluator

WORLD = dict(seed=0, image_size=128, num_train=48, num_val=16)


def centre_prior_ap(world: Path) -> float:
    """AP of every class at every image centre with the mean training box size (a detector that saw no pixel)."""
    train_set = json.loads((world / "annotations" / "instances_train.json").read_text())
    size = torch.tensor([a["bbox"][2:] for a in train_set["annotations"]], dtype=torch.float32).mean(0)
    val = CocoDetection(image_dir=world / "val", ann_file=world / "annotations" / "instances_val.json")
    evaluator = CocoEvaluator(val.coco)
    labels = torch.arange(1, len(val.category_names) + 1)
    for image_id in val.ids:
        info = val.coco.imgs[image_id]
        centre = torch.tensor([info["width"], info["height"]], dtype=torch.float32) / 2
        box = torch.cat([centre - size / 2, centre + size / 2]).repeat(len(labels), 1)
        evaluator.update([{"image_id": image_id, "boxes": box, "scores": torch.ones(len(labels)), "labels": labels}])
    return evaluator.compute()["AP"]


@pytest.mark.slow
def test_pdnet_learns_on_the_embedded_world(tmp_path: Path) -> None:
    world = make_coco(tmp_path / "data" / "world" / "coco", **WORLD)
    out = tmp_path / "run"
    overrides = [
        "model=test_pdnet",
        "trainer=cpu",
        "trainer.precision=32",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "trainer.log_every_n_steps=1",
        "+trainer.num_sanity_val_steps=0",
        "trainer.max_epochs=8",
        "trainer.check_val_every_n_epoch=8",
        f"paths.data_dir={tmp_path / 'data'}",
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
    with open(out / "csv" / "metrics.csv", newline="") as handle:
        coarse = [float(r["train/coarse"]) for r in csv.DictReader(handle) if r.get("train/coarse")]
    assert coarse[-1] < coarse[0]  # the coarse boxes (step 1 of the point learning) improve too
    baseline = centre_prior_ap(world)
    assert metrics["val/AP"] > max(0.02, 3 * baseline), (metrics["val/AP"], baseline)

"""A small, self-contained HierKD run on the embedded world (the demo and the learning test): train one
variant (no KD / instance KD / global KD / both) and report ZSD and GZSD AP50."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import torch

from vislite_detection.data.dataset import CocoDetection
from vislite_detection.eval.convert import to_coco_results
from vislite_detection.hierkd.build import build_hierkd
from vislite_detection.hierkd.model import HierKD
from vislite_detection.hierkd.ovd_eval import ovd_metrics
from vislite_detection.hierkd.ovd_split import load_class_split
from vislite_detection.hierkd.teacher import VisionLanguageTeacher
from vislite_detection.hierkd.world import write_world_ovd_split

VARIANTS: dict[str, tuple[bool, bool]] = {
    "no KD": (False, False),
    "instance KD": (True, False),
    "global KD": (False, True),
    "both": (True, True),
}
SHAPE_ORDER = ("circle", "square", "triangle", "star", "hexagon", "cross", "ring", "ellipse")


def _plain(x: Any) -> Any:
    return x.as_subclass(torch.Tensor) if isinstance(x, torch.Tensor) else x


def train_world_hierkd(
    root: str | os.PathLike,
    teacher: VisionLanguageTeacher,
    *,
    dist_instance: bool,
    dist_featuremap: bool,
    epochs: int = 8,
    batch_size: int = 8,
    lr: float = 0.01,
    warmup_iters: int = 20,
    seed: int = 0,
    log: list[float] | None = None,
) -> HierKD:
    """Train the tiny HierKD (test backbone, 2-conv towers) on the world's seen-class file with SGD (momentum
    0.9, wd 1e-4, grad-norm clip 10, linear warm-up); per-epoch mean losses go to ``log``."""
    root = Path(root)
    ann = write_world_ovd_split(root)
    torch.manual_seed(seed)
    model = build_hierkd(
        teacher=teacher, class_split=ann / "class_split.json", class_names=SHAPE_ORDER, backbone="tiny_resnet_fpn",
        out_channels=32, num_convs=2, norm_groups=8, captions=str(ann / "captions_train.json"),
        dist_instance=dist_instance, dist_featuremap=dist_featuremap,
    )
    data = CocoDetection(image_dir=root / "train", ann_file=ann / "instances_train_seen.json")
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)
    rng = random.Random(seed)
    step = 0
    model.train()
    for _ in range(epochs):
        order = list(range(len(data)))
        rng.shuffle(order)
        losses = []
        for start in range(0, len(order) - batch_size + 1, batch_size):
            items = [data[i] for i in order[start : start + batch_size]]
            images = [_plain(img) for img, _ in items]
            targets = [
                {"boxes": _plain(t["boxes"]), "labels": t["labels"], "image_id": torch.as_tensor(int(t["image_id"]))}
                for _, t in items
            ]
            for group in optimiser.param_groups:
                group["lr"] = lr * min(1.0, (1 + step) / warmup_iters)
            loss = sum(model(images, targets).values())
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            optimiser.step()
            losses.append(loss.item())
            step += 1
        if log is not None and losses:
            log.append(sum(losses) / len(losses))
    return model.eval()


@torch.no_grad()
def evaluate_world(model: HierKD, root: str | os.PathLike) -> dict[str, float]:
    """``ZSD_AP50`` (unseen classes on ``instances_val_unseen.json``) and ``GZSD_AP50_seen`` / ``_unseen`` /
    ``_hm`` (all classes on ``instances_val_seen_unseen.json``)."""
    ann = Path(root) / "annotations"
    split = load_class_split(ann / "class_split.json")
    out: dict[str, float] = {}
    mode = model.eval_mode
    model.eval()
    for eval_mode, file in (("zsd", "instances_val_unseen.json"), ("gzsd", "instances_val_seen_unseen.json")):
        model.eval_mode = eval_mode
        data = CocoDetection(image_dir=Path(root) / "val", ann_file=ann / file)
        if data.category_names != model.eval_classes():
            raise ValueError(f"{ann / file}: categories {data.category_names} != {model.eval_classes()}")
        results = []
        for i in range(len(data)):
            image, target = data[i]
            (pred,) = model([_plain(image)])
            info = data.coco.imgs[int(target["image_id"])]
            results += to_coco_results(
                {"image_id": int(target["image_id"]), **pred},
                label_to_category_id=data.label_to_category_id,
                orig_size=(int(info["height"]), int(info["width"])),
            )
        metrics = ovd_metrics(data.coco.dataset, results, seen=split["seen"], unseen=split["unseen"])
        if eval_mode == "zsd":
            out["ZSD_AP50"] = metrics["AP50_unseen"]
        else:
            out.update({f"GZSD_{k}": v for k, v in metrics.items()})
    model.eval_mode = mode
    return out

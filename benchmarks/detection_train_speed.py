"""FCOS R-50-FPN training speed at 640 px on the CPU: vislite's detector against torchvision's own, same run.

One training step = forward, backward and SGD update (momentum 0.9, wd 1e-4) on a batch of synthetic 640 x 853
images (shorter side 640, COCO's 4:3 aspect) with 8 boxes each. vislite's ``fcos_resnet50_fpn`` is built as the
recipe trains it (ImageNet-initialised ResNet-50 read from a local file, here random weights written to a
temporary file: frozen batch norm, stages 2-4 trainable, GN head, 81 classes); the reference is
``torchvision.models.detection.fcos_resnet50_fpn`` with the same frozen setup and the same weights. Both see the
same images and targets. Prints training images/s (median step) and the ratio.

    python benchmarks/detection_train_speed.py            # batch 2, 6 timed steps each (~3 min on 2 cores)
    python benchmarks/detection_train_speed.py --quick    # batch 1, 2 timed steps (~40 s)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet50
from torchvision.models.detection import fcos_resnet50_fpn as torchvision_fcos
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops import FrozenBatchNorm2d
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from vislite_detection.models import create_detector


def batch(size: int, seed: int = 0) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """``size`` images of 3 x 640 x 853 in [0, 1] with 8 random boxes each (labels 1..80)."""
    gen = torch.Generator().manual_seed(seed)
    images = [torch.rand(3, 640, 853, generator=gen) for _ in range(size)]
    targets = []
    for _ in range(size):
        xy = torch.rand(8, 2, generator=gen) * torch.tensor([700.0, 500.0])
        wh = 20 + torch.rand(8, 2, generator=gen) * 130
        targets.append({"boxes": torch.cat([xy, xy + wh], 1), "labels": torch.randint(1, 81, (8,), generator=gen)})
    return images, targets


def reference_model(weights: Path) -> nn.Module:
    """torchvision's FCOS R-50-FPN with frozen batch norm and 3 trainable stages, backbone from ``weights``."""
    body = resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    body.load_state_dict(torch.load(weights, weights_only=True))
    backbone = _resnet_fpn_extractor(body, 3, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
    model = torchvision_fcos(weights=None, weights_backbone=None, num_classes=81, score_thresh=0.05)
    model.backbone = backbone
    model.transform._skip_resize = True  # the images already have the training size, as vislite's data gives them
    return model


def time_steps(model: nn.Module, data: tuple, steps: int) -> list[float]:
    """Seconds per training step, after one untimed warm-up step."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.005, momentum=0.9, weight_decay=1e-4)
    model.train()
    times = []
    for step in range(steps + 1):
        start = time.perf_counter()
        loss = sum(model(*data).values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step:
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 1, 2 timed steps")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", 2)))
    args = parser.parse_args()
    size = args.batch or (1 if args.quick else 2)
    steps = args.steps or (2 if args.quick else 6)
    torch.set_num_threads(args.threads)
    data = batch(size)
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "resnet50.pth"
        torch.manual_seed(0)
        torch.save(resnet50(weights=None).state_dict(), weights)
        vislite = create_detector("fcos_resnet50_fpn", num_classes=81, weights_backbone=weights)
        reference = reference_model(weights)
    rates = {}
    for name, model in (("vislite", vislite), ("torchvision", reference)):
        per_step = statistics.median(time_steps(model, data, steps))
        rates[name] = size / per_step
        print(f"{name:<12} {rates[name]:6.3f} training images/s  ({per_step:.2f} s per step of {size})", flush=True)
    print(f"\nvislite / torchvision: {rates['vislite'] / rates['torchvision']:.2f}x")
    print(f"machine: {platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}")


if __name__ == "__main__":
    main()

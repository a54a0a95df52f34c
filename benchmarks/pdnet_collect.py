"""PDNet's collection ops: vislite's batched ``collect_merge`` / ``collect_concat`` against a per-point
``grid_sample`` loop, forward + backward over P3-P7 of an 800 x 1333 image (padded 800 x 1344), batch 2, as the
head calls them (80 classes x 9 semantic points, 4 boundary points on the 4-channel regression map, the finer
level read again for the cross-level attention). With ``--train``, also PDNet R-50-FPN training images/s against
FCOS R-50-FPN (vislite's, same backbone, same images and boxes, 640 x 853).

    python benchmarks/pdnet_collect.py                 # ops only (~1 min on 2 cores)
    python benchmarks/pdnet_collect.py --train         # + training speed (batch 1, a few minutes on a CPU)
    python benchmarks/pdnet_collect.py --train-only    # training speed only
    python benchmarks/pdnet_collect.py --device cuda   # on a GPU
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from vislite_detection.models import create_detector
from vislite_detection.pdnet import collect_concat, collect_merge

LEVELS = [(100, 168), (50, 84), (25, 42), (13, 21), (7, 11)]  # P3-P7 of 800 x 1344


def loop_collect(inp: torch.Tensor, loc: torch.Tensor, points: int, merge: bool) -> torch.Tensor:
    """The plain reference: one ``grid_sample`` (align_corners=True, zeros) per point, masked by the strict bounds."""
    _, channels, h, w = inp.shape
    c = channels // points
    outs = []
    for i in range(points):
        y, x = loc[:, 2 * i], loc[:, 2 * i + 1]
        grid = torch.stack([2 * x / max(w - 1, 1) - 1, 2 * y / max(h - 1, 1) - 1], dim=-1)
        sample = F.grid_sample(inp[:, i * c : (i + 1) * c], grid, align_corners=True)
        outs.append(sample * ((y > -1) & (y < h) & (x > -1) & (x < w))[:, None])
    return torch.stack(outs).sum(0) if merge else torch.cat(outs, 1)


def make_inputs(batch: int, device: torch.device, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    levels = []
    for h, w in LEVELS:
        centre = torch.stack(torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")).float()  # [2, H, W]
        semantic = centre.repeat(9, 1, 1)[None] + torch.randn(batch, 18, h, w, generator=gen) * 3
        bound = centre.repeat(4, 1, 1)[None] + torch.randn(batch, 8, h, w, generator=gen) * 3
        levels.append(
            {
                "cls": torch.randn(batch, 9 * 80, h, w, generator=gen),
                "reg": torch.randn(batch, 4, h, w, generator=gen),
                "semantic": semantic,
                "bound": bound,
            }
        )
    return [{k: v.to(device).requires_grad_() for k, v in level.items()} for level in levels]


def head_ops(levels: list[dict[str, torch.Tensor]], merge_fn, concat_fn) -> torch.Tensor:
    """Every collection call of one head forward; returns a scalar to differentiate."""
    total = 0
    for i, level in enumerate(levels):
        total = total + merge_fn(level["cls"], level["semantic"], 9).square().mean()
        total = total + concat_fn(level["reg"], level["bound"], 4).square().mean()
        if i > 0:
            total = total + concat_fn(levels[i - 1]["reg"], level["bound"] * 2, 4).square().mean()
    return total


def time_ops(levels: list, merge_fn, concat_fn, steps: int, device: torch.device) -> float:
    times = []
    for step in range(steps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        head_ops(levels, merge_fn, concat_fn).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def train_rate(name: str, batch: int, steps: int, device: torch.device) -> float:
    """Training images/s of a registered R-50-FPN detector (random init, batch norm frozen as with weights)."""
    gen = torch.Generator().manual_seed(0)
    images = [torch.rand(3, 640, 853, generator=gen).to(device) for _ in range(batch)]
    targets = []
    for _ in range(batch):
        xy = torch.rand(8, 2, generator=gen) * torch.tensor([700.0, 500.0])
        wh = 20 + torch.rand(8, 2, generator=gen) * 130
        boxes = torch.cat([xy, xy + wh], 1)
        targets.append({"boxes": boxes.to(device), "labels": torch.randint(1, 81, (8,), generator=gen).to(device)})
    torch.manual_seed(0)
    model = create_detector(name, num_classes=81).to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.001, momentum=0.9, weight_decay=1e-4)
    times = []
    for step in range(steps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = sum(model(images, targets).values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step:
            times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--train", action="store_true", help="also PDNet vs FCOS R-50-FPN training images/s")
    parser.add_argument("--train-only", action="store_true", help="only PDNet vs FCOS training images/s")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", 2)))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if not args.train_only:
        compare_ops(device, args.steps)
    if args.train or args.train_only:
        rates = {name: train_rate(name, 1, 2, device) for name in ("pdnet_resnet50_fpn", "fcos_resnet50_fpn")}
        for name, rate in rates.items():
            print(f"  {name:<22} {rate:6.3f} training images/s (640 x 853, batch 1)")
        print(f"  PDNet / FCOS: {rates['pdnet_resnet50_fpn'] / rates['fcos_resnet50_fpn']:.2f}x")
    print(f"machine: {platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}")


def compare_ops(device: torch.device, steps: int) -> None:
    """Print the batched ops' and the loop's forward + backward time and their ratio."""
    levels = make_inputs(2, device)
    with torch.no_grad():  # the two implementations agree before they are timed
        diff = max(
            (collect_merge(lv["cls"], lv["semantic"], point_num=9) - loop_collect(lv["cls"], lv["semantic"], 9, True))
            .abs()
            .max()
            .item()
            for lv in levels
        )
    print(f"max |batched - loop| over P3-P7 (merge): {diff:.2e}")
    batched = time_ops(
        levels,
        lambda a, b, p: collect_merge(a, b, point_num=p),
        lambda a, b, p: collect_concat(a, b, point_num=p),
        steps,
        device,
    )
    loop = time_ops(
        levels,
        lambda a, b, p: loop_collect(a, b, p, True),
        lambda a, b, p: loop_collect(a, b, p, False),
        steps,
        device,
    )
    print(f"collection ops, forward + backward, batch 2, P3-P7 of 800 x 1344 on {device}:")
    print(f"  per-point grid_sample loop {loop * 1000:8.1f} ms")
    print(f"  vislite batched            {batched * 1000:8.1f} ms   ({loop / batched:.2f}x)")


if __name__ == "__main__":
    main()

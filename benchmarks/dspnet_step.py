"""DSPNet training cost: one DSPNet step (every sandwich width) against the individual steps at those widths.

One step = EMA update of the teacher, the teacher's projections of both views, then per width forward, loss and
backward of both views, and one SGD update (DSPNet: widths 1.0 / 0.75 / 0.5 / 0.25 of one slimmable network,
smaller widths by distillation; individual: one BYOL network of each width, each a step of its own, summed). Same
images, batch and heads on both sides. Prints the median step time of each (best of ``--repeats`` medians), the
ratio DSPNet / sum of individual steps, and the FLOPs of both counted by torch's ``FlopCounterMode``.

    python benchmarks/dspnet_step.py                                  # ResNet-50, 128 px, batch 16, 2 threads
    python benchmarks/dspnet_step.py --backbone test_resnet --size 32 --batch 64
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from vislite_pretrain.dspnet.model import DSPNet, build_dspnet

WIDTHS = (1.0, 0.75, 0.5, 0.25)


def train_step(dsp: DSPNet, optimizer: torch.optim.Optimizer, v1: torch.Tensor, v2: torch.Tensor) -> None:
    """One step over all of ``dsp``'s widths (largest first), gradients accumulated, one optimizer update."""
    dsp.update_teacher(0.99)
    targets = dsp.teacher_targets(v1, v2)
    optimizer.zero_grad()
    for width in sorted(dsp.width_mults, reverse=True):
        projections = dsp.project(v1, v2, width=width)
        if width == dsp.max_width:
            loss = dsp.ssl_loss(projections, targets)
        else:
            loss = dsp.distill_loss(projections, targets)
        loss.backward()
    optimizer.step()


def median_step(dsp: DSPNet, v1: torch.Tensor, v2: torch.Tensor, steps: int) -> float:
    optimizer = torch.optim.SGD(dsp.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    train_step(dsp, optimizer, v1, v2)  # warm-up
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        train_step(dsp, optimizer, v1, v2)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def step_flops(dsp: DSPNet, v1: torch.Tensor, v2: torch.Tensor) -> int:
    optimizer = torch.optim.SGD(dsp.parameters(), lr=0.0)
    with FlopCounterMode(display=False) as counter:
        train_step(dsp, optimizer, v1, v2)
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dim", type=int, default=2048)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    v1, v2 = torch.randn(2, args.batch, 3, args.size, args.size)
    kwargs = dict(dim=args.dim, hidden_dim=args.dim)
    dsp = build_dspnet(args.backbone, width_mults=WIDTHS, **kwargs)
    singles = {w: build_dspnet(args.backbone, width_mults=(w,), **kwargs) for w in WIDTHS}
    print(
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads; "
        f"{args.backbone}, {args.size} px, batch {args.batch}, widths {list(WIDTHS)}"
    )
    best_dsp, best_single = float("inf"), {w: float("inf") for w in WIDTHS}
    for _ in range(args.repeats):  # alternate, so load changes hit both sides alike
        best_dsp = min(best_dsp, median_step(dsp, v1, v2, args.steps))
        for w, net in singles.items():
            best_single[w] = min(best_single[w], median_step(net, v1, v2, args.steps))
    total = sum(best_single.values())
    print(f"DSPNet step (4 widths): {best_dsp * 1e3:.0f} ms")
    for w in WIDTHS:
        print(f"  individual step, width {w}: {best_single[w] * 1e3:.0f} ms")
    print(f"  individual steps, sum: {total * 1e3:.0f} ms")
    print(f"ratio DSPNet / sum of individual: {best_dsp / total:.2f}x")
    flops_dsp = step_flops(dsp, v1, v2)
    flops_single = sum(step_flops(net, v1, v2) for net in singles.values())
    ratio = flops_dsp / flops_single
    print(f"FLOPs per step: DSPNet {flops_dsp / 1e9:.1f} G, individual sum {flops_single / 1e9:.1f} G ({ratio:.2f}x)")


if __name__ == "__main__":
    main()

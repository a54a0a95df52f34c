"""MAE-lite training throughput: vislite against a plain reference run the way the reference code runs.

Same model (MAE-Lite ViT-Tiny, 224 px, batch 64), same weights, images and masks, same machine and run.
The reference is the model as MAE/MAE-Lite run it: fp32, eager, unfused attention (explicit softmax(q k^T) v).
It is timed in fp32 and under the same bf16 autocast as vislite's fast mode; vislite runs fused attention
(``scaled_dot_product_attention``) in fp32 (exact mode) and under bf16 autocast (fast mode). Prints images/s,
ratios, the loss of each variant on identical inputs, and the peak resident memory.

    python benchmarks/pretrain_throughput.py --batch 64 --steps 6
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import resource
import time

import torch

from vislite_pretrain.mae_lite.model import mae_vit_tiny_patch16


def set_fused_attention(model: torch.nn.Module, fused: bool) -> torch.nn.Module:
    """Switch every attention module between the fused kernel and the explicit softmax(q k^T) v path."""
    for module in model.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = fused
    return model


def time_training(model: torch.nn.Module, images: torch.Tensor, noise: torch.Tensor, *, bf16: bool,
                  steps: int, warmup: int = 2) -> tuple[float, float]:
    """Images per second of full training steps (forward, backward, AdamW) and the first step's loss."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, betas=(0.9, 0.95))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    first_loss = None
    for step in range(warmup + steps):
        if step == warmup:
            start = time.perf_counter()
        with autocast:
            loss, _, _ = model(images, 0.75, noise)
        if first_loss is None:
            first_loss = float(loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return steps * images.shape[0] / (time.perf_counter() - start), first_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = mae_vit_tiny_patch16(img_size=args.img_size)
    images = torch.randn(args.batch, 3, args.img_size, args.img_size, generator=torch.Generator().manual_seed(1))
    noise = torch.rand(args.batch, base.patchify(images).shape[1], generator=torch.Generator().manual_seed(2))

    variants = {
        "reference fp32 (eager, unfused attention)": (False, False),
        "reference bf16 autocast (unfused attention)": (False, True),
        "vislite fp32 (exact mode, fused attention)": (True, False),
        "vislite bf16 autocast (fast mode)": (True, True),
    }
    results = {}
    for name, (fused, bf16) in variants.items():
        model = set_fused_attention(copy.deepcopy(base).train(), fused)
        results[name] = time_training(model, images, noise, bf16=bf16, steps=args.steps)
        print(f"{name:<46} {results[name][0]:8.1f} img/s   loss {results[name][1]:.5f}", flush=True)
    ref32 = results["reference fp32 (eager, unfused attention)"][0]
    ref16 = results["reference bf16 autocast (unfused attention)"][0]
    fast = results["vislite bf16 autocast (fast mode)"][0]
    exact = results["vislite fp32 (exact mode, fused attention)"][0]
    print(f"\nvislite fast / reference fp32:          {fast / ref32:.2f}x")
    print(f"vislite fast / reference bf16 autocast: {fast / ref16:.2f}x")
    print(f"vislite exact / reference fp32:         {exact / ref32:.2f}x")
    losses = [loss for _, loss in results.values()]
    print(f"loss spread across variants: {max(losses) - min(losses):.2e} (fp32 variants agree to "
          f"{abs(losses[0] - losses[2]):.1e})")
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()

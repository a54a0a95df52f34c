"""MAE-lite training throughput: vislite against a plain reference implementation, same run, same machine.

One training step = forward, backward and AdamW update of MAE-Lite's ViT-Tiny MAE (encoder 192/12/12 heads,
decoder 96/1/3, mask ratio 0.75, norm-pix loss) at 224 px, batch 64. Every variant starts from the same weights
(vislite's ``mae_vit_tiny_patch16()`` after ``torch.manual_seed(0)``, copied into the reference by key), the same
images and the same mask noise, and runs in its own fresh process (so process-wide settings cannot leak).

* ``reference``: the model as MAE / MAE-Lite run it, written out plainly below: fp32, eager, explicit
  ``softmax(q k^T) v`` attention, patch convolution over the whole image, decoder head over all tokens,
  ``torch.optim.AdamW`` with its CPU default (one tensor at a time), the default allocator. Timed in fp32 and
  under bf16 autocast.
* ``vislite``: ``MaskedAutoencoderViT`` with its speed options (visible-only patch embedding, fused loss,
  per-block attention choice, fused AdamW, allocator tuning), exact fp32 and under the same bf16 autocast;
  ``--compile`` adds a ``torch.compile`` run.

Prints images/s (median step), ratios against both reference runs, the peak resident memory of each process and
the first step's loss of each variant (identical inputs: fp32 variants agree to float32 rounding, bf16 within 1e-3).

    python benchmarks/pretrain_throughput.py              # batch 64, 224 px, 2 threads, best of 2 (~2.5 min)
    python benchmarks/pretrain_throughput.py --repeats 1 --compile --variants vislite-fp32
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import torch
from torch import nn

from vislite_pretrain.mae_lite.loading import to_reference_keys
from vislite_pretrain.mae_lite.model import MaskedAutoencoderViT, mae_vit_tiny_patch16
from vislite_pretrain.mae_lite.speed import (
    optimizer_speed_kwargs,
    precision_context,
    set_attention_impl,
    tune_cpu_allocator,
)


# ------------------------------------------------------------------------------------ the plain reference model
class PlainAttention(nn.Module):
    """Multi-head self-attention computed explicitly: ``softmax(q k^T * scale) v``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)  # [3, B, H, N, d]
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)  # [B, H, N, N]
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class PlainMlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class PlainBlock(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), PlainAttention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim, eps=1e-6), PlainMlp(dim, dim * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # [N, L, D]


class PlainMAE(nn.Module):
    """The MAE forward in the reference's order, with the reference's parameter names."""

    def __init__(self, *, img: int, patch: int = 16, dim: int = 192, depth: int = 12, heads: int = 12,
                 dec_dim: int = 96, dec_heads: int = 3) -> None:
        super().__init__()
        self.patch, num = patch, (img // patch) ** 2
        self.patch_embed = PatchEmbed(dim, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num + 1, dim), requires_grad=False)
        self.blocks = nn.ModuleList(PlainBlock(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.decoder_embed = nn.Linear(dim, dec_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dec_dim))
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, num + 1, dec_dim), requires_grad=False)
        self.decoder_blocks = nn.ModuleList([PlainBlock(dec_dim, dec_heads)])
        self.decoder_norm = nn.LayerNorm(dec_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(dec_dim, patch * patch * 3)

    def forward(self, imgs: torch.Tensor, mask_ratio: float, noise: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.patch_embed(imgs) + self.pos_embed[:, 1:]  # [N, L, D]
        n, length, dim = x.shape
        keep = int(length * (1 - mask_ratio))
        ids_shuffle = torch.argsort(noise, dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        x = torch.gather(x, 1, ids_shuffle[:, :keep].unsqueeze(-1).repeat(1, 1, dim))  # [N, K, D]
        mask = torch.ones(n, length)
        mask[:, :keep] = 0
        mask = torch.gather(mask, 1, ids_restore)  # [N, L]
        x = torch.cat([(self.cls_token + self.pos_embed[:, :1]).expand(n, -1, -1), x], dim=1)  # [N, 1+K, D]
        for block in self.blocks:
            x = block(x)
        x = self.decoder_embed(self.norm(x))  # [N, 1+K, Dd]
        tokens = torch.cat([x[:, 1:], self.mask_token.repeat(n, length - keep, 1)], dim=1)  # [N, L, Dd]
        tokens = torch.gather(tokens, 1, ids_restore.unsqueeze(-1).repeat(1, 1, x.shape[2]))
        x = torch.cat([x[:, :1], tokens], dim=1) + self.decoder_pos_embed  # [N, 1+L, Dd]
        for block in self.decoder_blocks:
            x = block(x)
        pred = self.decoder_pred(self.decoder_norm(x))[:, 1:]  # [N, L, p*p*3]
        p = self.patch
        h = imgs.shape[2] // p
        target = torch.einsum("nchpwq->nhwpqc", imgs.reshape(n, 3, h, p, h, p)).reshape(n, h * h, p * p * 3)
        target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6) ** 0.5
        loss = ((pred - target) ** 2).mean(dim=-1)
        return (loss * mask).sum() / mask.sum(), pred, mask


# ------------------------------------------------------------------------------------------------ the variants
@dataclass(frozen=True)
class Variant:
    label: str
    vislite: bool
    precision: str = "32"
    compile: bool = False


VARIANTS = {
    "reference-fp32": Variant("reference fp32 (eager, explicit attention)", vislite=False),
    "reference-bf16": Variant("reference bf16 autocast", vislite=False, precision="bf16-mixed"),
    "vislite-fp32": Variant("vislite fp32 (exact)", vislite=True),
    "vislite-bf16": Variant("vislite bf16 autocast", vislite=True, precision="bf16-mixed"),
    "vislite-fp32-compile": Variant("vislite fp32 + torch.compile", vislite=True, compile=True),
}


def build(variant: Variant, img_size: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The variant's model (weights of ``mae_vit_tiny_patch16()`` after seed 0) and its optimizer."""
    torch.manual_seed(0)
    mae: MaskedAutoencoderViT = mae_vit_tiny_patch16(img_size=img_size)
    if variant.vislite:
        model: nn.Module = set_attention_impl(mae, "auto", precision=variant.precision)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05,
                                      **optimizer_speed_kwargs(params))
        if variant.compile:
            model = torch.compile(model)
    else:
        model = PlainMAE(img=img_size)
        model.load_state_dict(to_reference_keys(mae.state_dict()))
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    return model.train(), optimizer


def run_worker(name: str, args: argparse.Namespace) -> dict:
    """Time one variant in this process: ``--warmup`` untimed steps, then ``--steps`` timed ones."""
    variant = VARIANTS[name]
    torch.set_num_threads(args.threads)
    if variant.vislite:
        tune_cpu_allocator()
    model, optimizer = build(variant, args.img_size)
    images = torch.randn(args.batch, 3, args.img_size, args.img_size, generator=torch.Generator().manual_seed(1))
    noise = torch.rand(args.batch, (args.img_size // 16) ** 2, generator=torch.Generator().manual_seed(2))
    first_loss, times = None, []
    start = time.perf_counter()
    for step in range(args.warmup + args.steps):
        tic = time.perf_counter()
        with precision_context(variant.precision):
            loss, _, _ = model(images, 0.75, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if first_loss is None:
            first_loss = float(loss.detach())
        if step >= args.warmup:
            times.append(time.perf_counter() - tic)
    return {
        "name": name,
        "img_s": args.batch / statistics.median(times),
        "loss": first_loss,
        "warmup_s": time.perf_counter() - start - sum(times),
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            info = handle.read()
        cpu = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name"))
        flags = set(next(line for line in info.splitlines() if line.startswith("flags")).split())
        amx = "AMX" if "amx_bf16" in flags else "no AMX"
        cpu += f" ({amx}, {'AVX512-BF16' if 'avx512_bf16' in flags else 'no AVX512-BF16'}, {os.cpu_count()} CPUs)"
    except (OSError, StopIteration):
        pass
    return f"{cpu}; torch {torch.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="runs per variant, interleaved; the best counts")
    parser.add_argument("--compile", action="store_true", help="also time vislite fp32 under torch.compile")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=None)
    parser.add_argument("--worker", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_worker(args.worker, args)))
        return

    names = args.variants or ["reference-fp32", "reference-bf16", "vislite-fp32", "vislite-bf16"]
    if args.compile and "vislite-fp32-compile" not in names:
        names.append("vislite-fp32-compile")
    print(f"MAE-lite ViT-Tiny training, {args.img_size} px, batch {args.batch}, {args.threads} threads, "
          f"{args.steps} timed steps after {args.warmup}, best of {args.repeats}; {machine()}", flush=True)
    forwarded = [f"--{k.replace('_', '-')}={getattr(args, k)}" for k in ("batch", "steps", "warmup", "img_size",
                                                                         "threads")]
    results: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name in names:
            out = subprocess.run([sys.executable, __file__, "--worker", name, *forwarded], capture_output=True,
                                 text=True, check=False)
            if out.returncode:
                raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            if name not in results or result["img_s"] > results[name]["img_s"]:
                results[name] = result

    ref32 = results.get("reference-fp32", {}).get("img_s")
    ref16 = results.get("reference-bf16", {}).get("img_s")
    base_loss = results.get("reference-fp32", {}).get("loss")
    print(f"\n{'variant':<44}{'img/s':>8}{'vs ref fp32':>13}{'vs ref bf16':>13}{'peak RSS':>11}"
          f"{'first-step loss':>17}{'vs ref':>10}")
    for name in names:
        r = results[name]
        vs32 = f"{r['img_s'] / ref32:.2f}x" if ref32 else "-"
        vs16 = f"{r['img_s'] / ref16:.2f}x" if ref16 else "-"
        dloss = f"{r['loss'] - base_loss:+.1e}" if base_loss is not None else "-"
        print(f"{VARIANTS[name].label:<44}{r['img_s']:8.1f}{vs32:>13}{vs16:>13}{r['rss_mib']:8.0f} MiB"
              f"{r['loss']:17.6f}{dloss:>10}")
    if "vislite-fp32-compile" in results:
        print(f"\ntorch.compile warm-up (compilation + {args.warmup} steps): "
              f"{results['vislite-fp32-compile']['warmup_s']:.0f} s")


if __name__ == "__main__":
    main()

"""Sliding-window segmentation inference: vislite against a straightforward reference, same run, same machine.

Model: MAE-Lite's ADE20K segmentor (ViT-Tiny/16 blocks 4/6/8/12 -> feature-pyramid neck -> Semantic FPN head,
150 classes), random weights (speed does not depend on them), eval mode. Inputs (``--sizes``, both by default):

* 512 x 512: one 512 x 512 window per image (the issue's "images per second at 512 x 512");
* 512 x 683: ADE20K's usual 4:3 image after the test resize to (2048, 512) keep-ratio, two windows at stride 341
  (mmseg's slide mode), i.e. what the recipe's evaluation runs on.

* ``reference``: fp32, one image and one 512 x 512 crop at a time under ``torch.no_grad``, plain NCHW tensors:
  crop, run backbone, neck and head, upsample the logits to the crop, add into the image's logit sum and count
  map, divide, arg-max (mmseg's ``slide_inference`` loop).
* ``vislite``: :class:`vislite_segmentation.inference.Inferencer` in slide mode on a batch of images: all windows of
  all images go through the model together (``crop_batch``), under ``torch.inference_mode``, with logits upsampled,
  summed and arg-maxed in channels-last layout; fp32 by default (``--bf16`` adds a bf16-autocast run).

Prints images per wall-clock second and per CPU second (median of ``--repeats`` timed passes after one warm-up
pass) with the ratios, and the share of pixels where both give the same label (fp32 logits agree to float32
rounding, so 100% up to exact ties).

    python benchmarks/segmentation.py            # 4 images a size, 2 timed passes, 2 threads (~3-5 min on 2 cores)
    python benchmarks/segmentation.py --quick    # 2 images a size, 1 timed pass (~1.5 min on 2 loaded cores)
    python benchmarks/segmentation.py --sizes 512x512
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from vislite_segmentation.inference import Inferencer, windows
from vislite_segmentation.models import EncoderDecoder, FeaturePyramidNeck, FPNHead, build_vit_backbone

CROP, STRIDE, NUM_CLASSES = 512, 341, 150


def build_model() -> EncoderDecoder:
    """The recipe's segmentor (ViT-Tiny + Semantic FPN, 150 classes) with seeded random weights, eval mode."""
    torch.manual_seed(0)
    backbone = build_vit_backbone("vislite_vit_tiny", img_size=CROP, drop_path_rate=0.0, init_values=1.0)
    neck = FeaturePyramidNeck(in_channels=192, out_channels=48)
    head = FPNHead(in_channels=[48] * 4, channels=128, num_classes=NUM_CLASSES)
    return EncoderDecoder(backbone=backbone, neck=neck, decode_head=head).eval()


def reference_predict(model: EncoderDecoder, images: torch.Tensor) -> torch.Tensor:
    """fp32, one image and one crop at a time: the plain loop of mmseg's ``slide_inference``."""
    preds = []
    with torch.no_grad():
        for image in images:
            height, width = image.shape[-2:]
            logits = torch.zeros(1, NUM_CLASSES, height, width)
            count = torch.zeros(1, 1, height, width)
            for y1, y2, x1, x2 in windows(height, width, (CROP, CROP), (STRIDE, STRIDE)):
                crop = image[None, :, y1:y2, x1:x2]
                head_logits = model.decode_head(model.features(crop))  # [1, K, h/4, w/4]
                logits[:, :, y1:y2, x1:x2] += F.interpolate(
                    head_logits, size=crop.shape[-2:], mode="bilinear", align_corners=False
                )
                count[:, :, y1:y2, x1:x2] += 1
            preds.append((logits / count).argmax(dim=1)[0])
    return torch.stack(preds)


def vislite_predict(model: EncoderDecoder, images: torch.Tensor, *, crop_batch: int, bf16: bool) -> torch.Tensor:
    """vislite's slide inference over the whole batch (optionally under bf16 autocast)."""
    inferencer = Inferencer(mode="slide", crop=CROP, stride=STRIDE, crop_batch=crop_batch, size_divisor=16)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        return inferencer(model, images, NUM_CLASSES).argmax(dim=1)


def images_per_second(
    run: Callable[[], torch.Tensor], num_images: int, repeats: int
) -> tuple[float, float, torch.Tensor]:
    """Median images per wall-clock second and per CPU second (process time, all threads) over ``repeats`` timed
    passes after one warm-up pass; also the last predictions. On a shared machine the CPU-time figure is the
    steadier one."""
    out = run()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return num_images / statistics.median(walls), num_images / statistics.median(cpus), out


def parse_size(text: str) -> tuple[int, int]:
    """``"512x683"`` -> ``(512, 683)`` (height, width)."""
    height, width = (int(side) for side in text.lower().split("x"))
    return height, width


def bench_size(model: EncoderDecoder, height: int, width: int, args: argparse.Namespace) -> None:
    """Times both predictors on ``args.images`` random images of ``height x width`` and prints one table."""
    images = torch.randn(args.images, 3, height, width, generator=torch.Generator().manual_seed(0))
    per_image = len(windows(height, width, (CROP, CROP), (STRIDE, STRIDE)))
    plural = "window" if per_image == 1 else "windows"
    print(f"{args.images} images of {height} x {width}: {per_image} {plural} of {CROP} x {CROP} at stride {STRIDE}")
    ref_ips, ref_cpu, ref_pred = images_per_second(lambda: reference_predict(model, images), args.images, args.repeats)
    print(f"  {'':<40} {'img/s':>7} {'ratio':>6} {'img/CPU-s':>10} {'ratio':>6}")
    print(f"  {'reference (fp32, one crop at a time)':<40} {ref_ips:7.3f} {1:6.2f}x {ref_cpu:10.3f} {1:6.2f}x")
    variants = [("vislite (fp32, batched windows)", False)] + ([("vislite (bf16 autocast)", True)] if args.bf16 else [])
    for name, bf16 in variants:
        ips, cpu, pred = images_per_second(
            lambda bf16=bf16: vislite_predict(model, images, crop_batch=args.crop_batch, bf16=bf16),
            args.images,
            args.repeats,
        )
        agree = (pred == ref_pred).float().mean().item()
        print(
            f"  {name:<40} {ips:7.3f} {ips / ref_ips:6.2f}x {cpu:10.3f} {cpu / ref_cpu:6.2f}x"
            f"   (same label as the reference: {agree:.2%})"
        )
    print()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="images per pass and size")
    parser.add_argument("--sizes", nargs="+", default=["512x512", "512x683"], help="image sizes HxW")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--crop-batch", type=int, default=16, help="windows per forward pass in vislite's slide")
    parser.add_argument("--bf16", action="store_true", help="also time vislite under bf16 autocast")
    parser.add_argument("--quick", action="store_true", help="2 images a size, 1 timed pass")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.repeats = 2, 1
    torch.set_num_threads(args.threads)

    model = build_model()
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads\n")
    for size in args.sizes:
        bench_size(model, *parse_size(size), args)


if __name__ == "__main__":
    main()

"""RDSNet inference speed: batched mask assembly and MBRM against per-instance Python loops.

The same RDSNet R-50-FPN network (random weights, ``score_thresh=0`` so that every image keeps the full 100
detections and the per-instance work is exercised) runs on 800 px images, 2 torch threads, with MBRM on:

- vislite: the detector as shipped: masks of the kept detections assembled in chunks of 16 instances
  (one correlation, one resize, one softmax, one crop per chunk) and MBRM on the whole chunk;
- reference: the same network with the mask step run as the official code's test path is usually re-implemented
  per instance: for each detection its own correlation, resize, unpadding, softmax, crop and MBRM call.

Both must give identical masks and boxes (asserted). Prints images/s and the ratio.

    python benchmarks/rdsnet_inference.py            # 4 images of 800 x 1216, best of 2
    python benchmarks/rdsnet_inference.py --quick    # 2 images of 512 x 768
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import torch
from torch import Tensor

from vislite_detection.models import create_detector
from vislite_detection.rdsnet import assemble_masks, mbrm_refine
from vislite_detection.rdsnet.detector import RDSNet


def looped_masks(
    model: RDSNet, pixel_reps: Tensor, reps: Tensor, boxes: Tensor, size: Sequence[int], original: Sequence[int] | None
) -> tuple[Tensor, Tensor]:
    """The reference mask step: one instance at a time (correlate, resize, unpad, softmax, crop, MBRM)."""
    reps_b, pad = model._pixel_reps_of(pixel_reps, size)
    masks, refined = [], []
    for k in range(reps.shape[0]):
        probs = assemble_masks(
            reps_b, reps[k : k + 1], boxes[k : k + 1], pad_shape=pad, img_shape=size, padding=model.test_crop_padding
        )
        if model.mbrm:
            refined.append(mbrm_refine(probs, boxes[k : k + 1], gamma=model.mbrm_gamma))
        masks.append((probs > model.mask_thr_binary).to(torch.uint8))
    if not masks:
        return torch.zeros(0, 1, *size, dtype=torch.uint8), boxes
    return torch.cat(masks).unsqueeze(1), torch.cat(refined) if model.mbrm else boxes


def timed(model: RDSNet, images: list[Tensor], repeats: int) -> tuple[float, float, list[dict[str, Tensor]]]:
    """Best-of-``repeats`` images/s of the whole inference and of its mask step alone; the last outputs."""
    step = model._masks
    spent = [0.0]

    def mask_step(*args: object) -> tuple[Tensor, Tensor]:
        start = time.perf_counter()
        result = step(*args)
        spent[0] += time.perf_counter() - start
        return result

    model._masks = mask_step  # type: ignore[method-assign]
    best, best_mask, out = float("inf"), float("inf"), []
    with torch.no_grad():
        model([images[0]])  # warm-up
        for _ in range(repeats):
            spent[0] = 0.0
            start = time.perf_counter()
            out = [model([image])[0] for image in images]
            best = min(best, time.perf_counter() - start)
            best_mask = min(best_mask, spent[0])
    model._masks = step  # type: ignore[method-assign]
    return len(images) / best, len(images) / best_mask, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    height, width, count = (512, 768, 2) if args.quick else (800, 1216, 4)
    images = [torch.rand(3, height, width) for _ in range(count)]
    model = create_detector("rdsnet_resnet50_fpn", score_thresh=0.0, mbrm=True).eval()
    fast, fast_mask, fast_out = timed(model, images, args.repeats)
    model._masks = lambda *a: looped_masks(model, *a)  # type: ignore[method-assign]
    slow, slow_mask, slow_out = timed(model, images, args.repeats)
    for a, b in zip(fast_out, slow_out):
        assert len(a["boxes"]) == 100 and torch.equal(a["masks"], b["masks"]) and torch.equal(a["boxes"], b["boxes"])
    print(f"RDSNet R-50-FPN, {count} images of {height}x{width}, 100 detections each, MBRM, {args.threads} threads")
    print(f"  reference (per-instance loops): {slow:.3f} img/s; mask step alone {slow_mask:.2f} img/s")
    print(f"  vislite (batched chunks of {model.mask_chunk}): {fast:.3f} img/s; mask step alone {fast_mask:.2f} img/s")
    print(f"  ratio: whole inference {fast / slow:.2f}x, mask step {fast_mask / slow_mask:.2f}x")


if __name__ == "__main__":
    main()

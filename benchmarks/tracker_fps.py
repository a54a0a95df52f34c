"""End-to-end ``track()`` frames per second of the vislite ViT-Tiny tracker vs the reference code path.

Both trackers run the same OSTrack-256 ViT-Tiny weights (random, seeded) on the same frames of an embedded-world
LaSOT sequence (640x480), batch 1, fp32, same process, same threads. Every frame starts from the previous frame's
true box, so both crop the same regions whatever their predictions. Measured per frame: crop, normalise, network,
post-processing (Hann window, decoding, map back, clipping).

References, written the way OSTrack's code runs (eager fp32, explicit ``softmax(q k^T)`` attention in every block,
all three head branches over the whole 16x16 map, ``torch.tensor`` preprocessing):
  * ``reference_plain``: a one-stream ViT-Tiny without candidate elimination (no CE speed-up);
  * ``reference_ce``: OSTrack's released inference path, CE keeping 0.7 at blocks 3, 6, 9.
vislite's ``OSTracker`` runs twice: its default inference path (``fast=True``: head BatchNorms folded, offset / size
on the best cell's receptive field only, last block computing search tokens only) and ``fast=False`` (the
network's own modules). Both are compared with ``reference_ce`` (same model, same maths: equal up to float
rounding). The load average is printed before and after (the machine may be shared).
When ``onnx`` and ``onnxruntime`` are installed (``pip install 'vislite-tracking[onnx]'``), the package's ONNX
Runtime backend runs too: ``vislite_tracking.ostrack.tracker.OnnxTracker``, the vislite network exported (score, size
and offset maps) and run in a session with as many intra-op threads as torch uses, with the tracker's own crop,
normalisation and post-processing around it; it is timed in the same interleaved passes and its boxes are
compared with ``reference_ce`` as well.

    python benchmarks/tracker_fps.py            # ~2 minutes
    python benchmarks/tracker_fps.py --quick    # ~30 s
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vislite_common.data.world import make_lasot
from vislite_tracking.data import load_sequences, read_frame
from vislite_tracking.data.processing import clip_box, crop_box_to_frame, sample_target
from vislite_tracking.ostrack.model import OSTrack, build_ostrack, decode_boxes
from vislite_tracking.ostrack.model.elimination import template_centre_mask
from vislite_tracking.ostrack.tracker import OnnxTracker, OSTracker, hann2d

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def _reference_block(block, x: torch.Tensor, lz: int, index: torch.Tensor, mask: torch.Tensor, ce: bool):
    """OSTrack ``CEBlock.forward``: explicit attention, CE ranking from the full attention matrix."""
    attn = block.attn
    b, n, c = x.shape
    qkv = attn.qkv(block.norm1(x)).reshape(b, n, 3, attn.num_heads, c // attn.num_heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    probs = ((q @ k.transpose(-2, -1)) * attn.scale).softmax(dim=-1)  # [B, H, N, N]
    out = attn.proj((probs @ v).transpose(1, 2).reshape(b, n, c))
    x = x + out
    removed = None
    if ce and block.eliminates:
        ls = n - lz
        keep = math.ceil(block.keep_ratio * ls)
        scores = probs[:, :, :lz, lz:][mask[:, None, :, None].expand(-1, probs.shape[1], -1, ls)]
        scores = scores.view(b, probs.shape[1], -1, ls).mean(dim=2).mean(dim=1)
        order = torch.sort(scores, dim=1, descending=True).indices
        removed = index.gather(1, order[:, keep:])
        index = index.gather(1, order[:, :keep])
        xs = x[:, lz:].gather(1, order[:, :keep, None].expand(-1, -1, c))
        x = torch.cat([x[:, :lz], xs], dim=1)
    x = x + block.mlp(block.norm2(x))
    return x, index, removed


class ReferenceTracker:
    """The reference tracker's per-frame computation, written plainly (see the module docstring)."""

    def __init__(self, network: OSTrack, *, ce: bool) -> None:
        self.net, self.ce = network.eval(), ce
        self.window = hann2d(network.feat_size)
        self.mask = template_centre_mask(1, network.backbone.template_grid)

    def _process(self, patch: np.ndarray) -> torch.Tensor:
        tensor = torch.tensor(patch).float().permute((2, 0, 1)).unsqueeze(dim=0)
        return ((tensor / 255.0) - MEAN) / STD

    def initialize(self, image: np.ndarray, box: np.ndarray) -> None:
        self.template = self._process(sample_target(image, box, 2.0, self.net.template_size).image)
        self.state = np.asarray(box, dtype=np.float64)

    @torch.no_grad()
    def track(self, image: np.ndarray) -> np.ndarray:
        size, net, bb = self.net.search_size, self.net, self.net.backbone
        crop = sample_target(image, self.state, 4.0, size)
        z = bb.embed(self.template) + bb.pos_embed_z
        x = bb.embed(self._process(crop.image)) + bb.pos_embed_x
        lz, lx = z.shape[1], x.shape[1]
        tokens, index, removed = torch.cat([z, x], dim=1), torch.arange(lx).view(1, -1), []
        for block in bb.blocks:
            tokens, index, gone = _reference_block(block, tokens, lz, index, self.mask, self.ce)
            if gone is not None:
                removed.append(gone)
        tokens = bb.norm(tokens)
        search = tokens[:, lz:]
        if removed:
            full = torch.cat([search, torch.zeros(1, lx - search.shape[1], search.shape[2])], dim=1)
            order = torch.cat([index, *removed], dim=1)
            search = torch.zeros_like(full).scatter_(1, order[..., None].expand(-1, -1, full.shape[2]), full)
        grid = net.feat_size
        out = net.box_head(search.permute(0, 2, 1).reshape(1, -1, grid, grid))
        response = self.window * out["score_map"]
        box = decode_boxes(response, out["size_map"], out["offset_map"])[0]
        pred = (box * size / crop.resize_factor).tolist()
        frame_box = crop_box_to_frame(np.array(pred) * crop.resize_factor, self.state, crop.resize_factor, size)
        self.state = clip_box(frame_box, image.shape[0], image.shape[1], 10)
        return self.state


def one_pass(tracker, frames: list[np.ndarray], boxes: np.ndarray) -> tuple[float, np.ndarray]:
    """Frames per second of ``track()`` over the sequence (each frame from the previous true box), and its boxes."""
    tracker.initialize(frames[0], boxes[0])
    elapsed, out = 0.0, []
    for t in range(1, len(frames)):
        tracker.state = np.asarray(boxes[t - 1], dtype=np.float64)
        start = time.perf_counter()
        out.append(np.asarray(tracker.track(frames[t]), dtype=np.float64))
        elapsed += time.perf_counter() - start
    return (len(frames) - 1) / elapsed, np.stack(out)


def time_trackers(trackers: dict, frames: list[np.ndarray], boxes: np.ndarray, repeats: int) -> dict:
    """``{name: (median fps, boxes)}``; passes are interleaved (A, B, C, A, B, C, ...) so that load from other
    processes falls on every tracker alike."""
    rates: dict[str, list[float]] = {name: [] for name in trackers}
    results: dict[str, np.ndarray] = {}
    for tracker in trackers.values():  # warm-up
        one_pass(tracker, frames[:3], boxes[:3])
    for _ in range(repeats):
        for name, tracker in trackers.items():
            fps, results[name] = one_pass(tracker, frames, boxes)
            rates[name].append(fps)
    return {name: (float(np.median(rates[name])), results[name]) for name in trackers}


def onnx_tracker(network: OSTrack) -> OnnxTracker | str:
    """The package's :class:`OnnxTracker` of ``network`` (as many intra-op threads as torch), or why there is none."""
    try:
        return OnnxTracker.from_network(network)
    except ImportError as error:
        return f"skipped ({error})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames and repeats (~30 s)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    frames_n, repeats = (25, 3) if args.quick else (60, 5)
    with tempfile.TemporaryDirectory() as tmp:
        make_lasot(Path(tmp), frame_size=(640, 480), num_sequences=1, num_frames=frames_n)
        sequence = load_sequences("lasot", tmp)[0]
        frames = [read_frame(p) for p in sequence.frames]
    boxes = sequence.boxes
    torch.manual_seed(0)
    network = build_ostrack(drop_path_rate=0.0).eval()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(frames) - 1} frames, batch 1, fp32")
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    trackers = {
        "ours": OSTracker(network=network),
        "ours_module": OSTracker(network=network, fast=False),
        "ce": ReferenceTracker(network, ce=True),
        "plain": ReferenceTracker(network, ce=False),
    }
    onnx = onnx_tracker(network)
    if isinstance(onnx, OnnxTracker):
        trackers["onnx"] = onnx
    timed = time_trackers(trackers, frames, boxes, repeats)
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    (ours_fps, ours), (ce_fps, ref_ce), (plain_fps, _) = timed["ours"], timed["ce"], timed["plain"]
    module_fps, ours_module = timed["ours_module"]
    print(f"{'tracker':<34}{'fps':>8}{'ratio':>8}")
    print(f"{'reference_plain (no CE, eager)':<34}{plain_fps:>8.1f}{1.0:>8.2f}")
    print(f"{'reference_ce (OSTrack code path)':<34}{ce_fps:>8.1f}{ce_fps / plain_fps:>8.2f}")
    print(f"{'vislite OSTracker(fast=False)':<34}{module_fps:>8.1f}{module_fps / plain_fps:>8.2f}")
    print(f"{'vislite OSTracker (fp32, default)':<34}{ours_fps:>8.1f}{ours_fps / plain_fps:>8.2f}")
    print(f"vislite vs reference_ce: x{ours_fps / ce_fps:.2f}; paper CPU figure: 41 fps")
    print(
        f"max |box difference| vs reference_ce: {np.abs(ours - ref_ce).max():.2e} px (default), "
        f"{np.abs(ours_module - ref_ce).max():.2e} px (fast=False)"
    )
    if "onnx" in timed:
        onnx_fps, onnx_boxes = timed["onnx"]
        print(
            f"ONNX Runtime (vislite network + the same crop / normalise / post-processing): {onnx_fps:.1f} fps, "
            f"x{onnx_fps / plain_fps:.2f}; max |box difference| vs reference_ce: "
            f"{np.abs(onnx_boxes - ref_ce).max():.2e} px"
        )
    else:
        print(f"ONNX Runtime: {onnx}")


if __name__ == "__main__":
    main()

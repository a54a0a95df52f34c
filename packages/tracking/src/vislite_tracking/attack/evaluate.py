"""Evaluating an attack: track under attack, score against the ground truth (GT, untargeted damage) and the
fake ground truth (FGT, targeted success), SSIM of the perturbations on a gray image, trajectory plots."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vislite_tracking.attack.perturbation import Perturbation
from vislite_tracking.attack.tracker import AttackedTracker, random_walk, straight_line
from vislite_tracking.data.sequence import Sequence as TrackSequence
from vislite_tracking.eval.records import Run
from vislite_tracking.eval.results import read_result_boxes, write_results
from vislite_tracking.eval.scoring import evaluate
from vislite_tracking.eval.worker import track_sequence
from vislite_tracking.siamfcpp.tracker import SiamFCppTracker

TRAJECTORIES = ("line", "walk")


def references_for(seq: TrackSequence, placement: str, trajectory: str = "line", seed: int = 0) -> np.ndarray:
    """The per-frame patch references: the annotated boxes (oracle) or a predefined centre trajectory."""
    if placement == "oracle":
        return seq.boxes
    if trajectory == "line":
        return straight_line(seq.boxes[0], len(seq))
    if trajectory == "walk":
        return random_walk(seq.boxes[0], len(seq), seed=seed)
    raise ValueError(f"trajectory: expected one of {TRAJECTORIES}, got {trajectory!r}")


def run_attack(
    make_tracker: Callable[[], SiamFCppTracker],
    perturbation: Perturbation,
    sequences: Sequence[TrackSequence],
    out_dir: str | os.PathLike,
    *,
    placement: str = "oracle",
    trajectory: str = "line",
) -> Path:
    """Track every sequence under attack; writes ``out_dir/attacked/<seq>.txt`` and ``out_dir/fgt/<seq>.txt``."""
    out = Path(out_dir)
    for seq in sequences:
        attacked = AttackedTracker(
            make_tracker(), perturbation, references_for(seq, placement, trajectory), placement=placement
        )
        run = track_sequence(attacked, seq)
        write_results(out / "attacked", seq.name, run, integer_boxes=False)
        write_results(out / "fgt", seq.name, Run(boxes=np.asarray(attacked.fgt)), integer_boxes=False)
    return out


def fgt_sequences(sequences: Sequence[TrackSequence], out_dir: str | os.PathLike) -> list[TrackSequence]:
    """The sequences with their boxes replaced by the recorded FGT (every frame visible, GOT-10k cover kept)."""
    out = []
    for seq in sequences:
        boxes = read_result_boxes(Path(out_dir) / "fgt" / f"{seq.name}.txt")
        if boxes.shape != seq.boxes.shape:
            raise ValueError(f"{seq.name}: {len(boxes)} FGT boxes for {len(seq)} frames")
        out.append(dataclasses.replace(seq, boxes=boxes, visible=np.ones(len(seq), dtype=bool)))
    return out


def score_attack(
    sequences: Sequence[TrackSequence], out_dir: str | os.PathLike, *, dataset: str, convention: str = "got10k"
) -> dict[str, dict[str, Any]]:
    """``{"gt": scores, "fgt": scores}`` of ``out_dir/attacked`` (:func:`evaluate`, curves dropped)."""
    attacked = Path(out_dir) / "attacked"
    gt = evaluate(sequences, attacked, dataset=dataset, convention=convention)
    fgt = evaluate(fgt_sequences(sequences, out_dir), attacked, dataset=dataset, convention=convention)
    keep = ("auc", "precision", "norm_precision", "ao", "sr50", "sr75")
    return {name: {k: r[k] for k in keep if k in r} for name, r in (("gt", gt), ("fgt", fgt))}


def ssim_on_gray(perturbation: Perturbation, x_size: int) -> dict[str, float]:
    """SSIM of the perturbed vs the plain 127-gray image (``skimage`` ``structural_similarity``, uint8 after
    clipping, channels averaged): ``uap_z`` on a template-sized image; ``patch_x`` added (OURS) / pasted (AP)
    at the corner of, or (UAP) added to, a search-sized one."""
    from skimage.metrics import structural_similarity

    def ssim(delta: np.ndarray, size: int, phase: str) -> float:
        base = np.full((size, size, 3), 127.0)
        image = base.copy()
        p = delta.shape[0]
        if phase == "AP":
            image[:p, :p] = delta
        else:
            image[:p, :p] += delta
        image = np.clip(image, 0, 255).astype(np.uint8)
        return float(structural_similarity(image, base.astype(np.uint8), channel_axis=2, data_range=255))

    z = perturbation.uap_z[0].permute(1, 2, 0).double().numpy()
    x = perturbation.patch_x[0].permute(1, 2, 0).double().numpy()
    return {"ssim_z": ssim(z, z.shape[0], "OURS"), "ssim_x": ssim(x, x_size, perturbation.phase)}


def random_like(perturbation: Perturbation, seed: int = 0) -> Perturbation:
    """A control: Gaussian noise with the same L2 norm as each perturbation (AP: around 127, same spread)."""
    generator = torch.Generator().manual_seed(seed)

    def like(t: torch.Tensor, centre: float) -> torch.Tensor:
        noise = torch.randn(t.shape, generator=generator)
        norm = float((t - centre).norm())
        return centre + noise * (norm / max(float(noise.norm()), 1e-12))

    centre_x = 127.0 if perturbation.phase == "AP" else 0.0
    return dataclasses.replace(
        perturbation, uap_z=like(perturbation.uap_z, 0.0), patch_x=like(perturbation.patch_x, centre_x)
    )


def plot_trajectories(
    seq: TrackSequence, out_dir: str | os.PathLike, path: str | os.PathLike, *, frames: int = 4, tile: int = 256
) -> Path:
    """A strip of ``frames`` evenly spaced frames (each ``tile`` px high) with the real (green), fake (red) and
    attacked (yellow) boxes, and the three centre trajectories drawn on the last frame."""
    import cv2

    from vislite_tracking.data.frames import read_frame

    attacked = read_result_boxes(Path(out_dir) / "attacked" / f"{seq.name}.txt")
    fgt = read_result_boxes(Path(out_dir) / "fgt" / f"{seq.name}.txt")
    picks = np.linspace(1, len(seq) - 1, frames).round().astype(int)
    colours = {"gt": (0, 200, 0), "fgt": (230, 40, 40), "attacked": (250, 210, 0)}
    tracks = {"gt": seq.boxes, "fgt": fgt, "attacked": attacked}
    tiles = []
    for index in picks:
        image = read_frame(seq.frames[index]).copy()
        scale = tile / image.shape[0]
        image = cv2.resize(image, (round(image.shape[1] * scale), tile), interpolation=cv2.INTER_NEAREST)
        for name, boxes in tracks.items():
            x, y, w, h = boxes[index] * scale
            if np.isfinite([x, y, w, h]).all():
                cv2.rectangle(image, (int(x), int(y)), (int(x + w), int(y + h)), colours[name], 2)
            centres = (boxes[: index + 1, :2] + boxes[: index + 1, 2:] / 2) * scale
            centres = centres[np.isfinite(centres).all(axis=1)].astype(np.int32)
            if len(centres) > 1:
                cv2.polylines(image, [centres.reshape(-1, 1, 2)], False, colours[name], 1)
        cv2.putText(image, f"#{index + 1}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
        tiles.append(image)
    strip = np.concatenate(tiles, axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), strip[..., ::-1])
    return path

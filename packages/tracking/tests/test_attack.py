"""The attack around the exact functions: FGSM training against a frozen tiny victim, perturbation files and
their errors, the attacked tracker's FGT, GT / FGT scoring, SSIM, the random control and the trajectory strip."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from vislite_tracking.attack.evaluate import plot_trajectories, random_like, run_attack, score_attack, ssim_on_gray
from vislite_tracking.attack.pairs import attack_batches
from vislite_tracking.attack.perturbation import (
    Perturbation,
    initial_perturbation,
    load_perturbation,
    save_perturbation,
)
from vislite_tracking.attack.tracker import AttackedTracker, straight_line
from vislite_tracking.attack.train import AttackSettings, apply_training_patch, sample_fake_boxes, train_attack
from vislite_tracking.data import load_sequences
from vislite_tracking.siamfcpp.model import build_siamfcpp
from vislite_tracking.siamfcpp.tracker import SiamFCppTracker


@pytest.fixture(autouse=True)
def flush_denormals():
    torch.set_flush_denormal(True)  # the tiny victim's activations reach denormals: slow on CPU otherwise
    yield
    torch.set_flush_denormal(False)


def victim(seed: int = 0):
    torch.manual_seed(seed)
    return build_siamfcpp("test_tiny", head_width=16, tiny_width=8, z_size=63, x_size=127).eval()


def test_fake_boxes_and_training_patch() -> None:
    rng = np.random.default_rng(0)
    boxes = sample_fake_boxes(64, 303, 64, "OURS", 64.0, rng)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    assert torch.all((centres - 151.5).abs() <= 64) and torch.allclose(boxes[:, 2:] - boxes[:, :2], torch.tensor(63.0))
    uap = sample_fake_boxes(2, 303, 64, "UAP", 64.0, rng)
    assert torch.allclose((uap[:, :2] + uap[:, 2:]) / 2, torch.tensor(151.5 - 64))
    im = torch.full((1, 3, 20, 20), 5.0)
    patch = torch.ones(1, 3, 4, 4)
    fake = torch.tensor([[3.7, 2.2, 6.7, 5.2]])  # truncated corner (3, 2)
    added = apply_training_patch(im, patch, fake, "OURS")
    assert torch.all(added[0, :, 2:6, 3:7] == 6.0) and added.sum() == 5 * 1200 + 48
    pasted = apply_training_patch(im, patch * 9, fake, "AP")
    assert torch.all(pasted[0, :, 2:6, 3:7] == 9.0) and pasted.sum() == 5 * (1200 - 48) + 9 * 48


def test_fgsm_training_lowers_the_loss_on_a_fixed_batch_and_saves_powers_of_two(tmp_path: Path) -> None:
    net = victim()
    generator = torch.Generator().manual_seed(1)
    batch = {
        "im_z": torch.rand(4, 3, 63, 63, generator=generator) * 255,
        "im_x": torch.rand(4, 3, 127, 127, generator=generator) * 255,
    }
    settings = AttackSettings(phase="AP", patch_size=16, iterations=6, jitter=0.0, step_x=8.0)
    before = [p.clone() for p in net.parameters()]
    pert, history = train_attack(net, iter([batch] * 6), settings, save_dir=tmp_path)
    assert history[-1]["total"] < history[0]["total"]
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters())) and not net.training
    assert torch.equal(pert.uap_z, torch.zeros(1, 3, 63, 63))  # AP: template step 0
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == [
        "perturbation_1.pt",
        "perturbation_2.pt",
        "perturbation_4.pt",
    ]
    saved = load_perturbation(tmp_path / "perturbation_4.pt", z_size=63, x_size=127)
    assert saved.iteration == 4 and saved.phase == "AP" and saved.victim["backbone"] == "test_tiny"
    # the patch moved by exactly +-8 per step from 127 (sign steps)
    steps = (saved.patch_x - 127.0) / 8.0
    assert torch.allclose(steps, steps.round()) and steps.abs().max() <= 4


def test_perturbation_errors(tmp_path: Path) -> None:
    pert = initial_perturbation("OURS", 16, 63, 127)
    bad = dataclasses.replace(pert, patch_x=pert.patch_x.clone())
    bad.patch_x[0, 0, 0, 0] = float("nan")
    path = save_perturbation(bad, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match="nan.pt.*NaN"):
        load_perturbation(path)
    good = save_perturbation(pert, tmp_path / "good.pt")
    with pytest.raises(ValueError, match="template crop is 127"):
        load_perturbation(good, z_size=127, x_size=303)
    with pytest.raises(ValueError, match="does not fit"):
        load_perturbation(save_perturbation(initial_perturbation("OURS", 100, 63, 127), tmp_path / "big.pt"), x_size=64)
    with pytest.raises(ValueError, match="patch_size"):
        initial_perturbation("OURS", 127, 63, 127)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt.*not a perturbation"):
        load_perturbation(tmp_path / "other.pt")


def test_attacked_tracker_records_fgt_beside_the_reference(world: Path) -> None:
    seq = load_sequences("got10k", world / "got10k", "val")[0]
    pert = Perturbation(uap_z=torch.zeros(1, 3, 63, 63), patch_x=torch.full((1, 3, 16, 16), 50.0), phase="OURS")
    tracker = SiamFCppTracker(victim())
    attacked = AttackedTracker(tracker, pert, seq.boxes, placement="oracle")
    from vislite_tracking.eval.worker import track_sequence

    run = track_sequence(attacked, seq)
    fgt = np.asarray(attacked.fgt)
    assert fgt.shape == (len(seq), 4) and np.isfinite(run.boxes).all()
    # all patches are 16 crop px: the same frame size wherever the crop scale is the same; left of or above GT
    assert np.all(fgt[1:, 2] > 1) and np.allclose(fgt[1:, 2], fgt[1:, 3])
    beside = (fgt[1:, 0] < seq.boxes[1:, 0]) | (fgt[1:, 1] < seq.boxes[1:, 1])
    assert beside.mean() > 0.5
    with pytest.raises(ValueError, match="template crop"):
        AttackedTracker(
            SiamFCppTracker(victim()), dataclasses.replace(pert, uap_z=torch.zeros(1, 3, 127, 127)), seq.boxes
        )
    line = straight_line(seq.boxes[0], 3)
    assert np.allclose(line[2] - line[0], [3.0, -2.0])


def test_scoring_ssim_control_and_strip(world: Path, tmp_path: Path) -> None:
    seqs = load_sequences("got10k", world / "got10k", "val")
    net = victim()
    pert = Perturbation(uap_z=torch.full((1, 3, 63, 63), 3.0), patch_x=torch.full((1, 3, 16, 16), 40.0), phase="OURS")
    run_attack(lambda: SiamFCppTracker(net), pert, seqs, tmp_path, placement="trajectory")
    scores = score_attack(seqs, tmp_path, dataset="got10k", convention="got10k")
    assert set(scores) == {"gt", "fgt"} and 0 <= scores["gt"]["ao"] <= 100 and 0 <= scores["fgt"]["ao"] <= 100
    ssim = ssim_on_gray(pert, 127)
    assert ssim["ssim_z"] > 0.99 and 0 < ssim["ssim_x"] < ssim["ssim_z"]  # +3 everywhere vs a +40 square
    control = random_like(pert, seed=0)
    assert float(control.patch_x.norm()) == pytest.approx(float(pert.patch_x.norm()), rel=1e-5)
    strip = plot_trajectories(seqs[0], tmp_path, tmp_path / "strip.png", tile=256)
    import cv2

    assert cv2.imread(str(strip)).shape[1] >= 512


def test_attack_batches_match_the_victim(world: Path) -> None:
    seqs = load_sequences("got10k", world / "got10k", "train")
    batch = next(attack_batches(seqs, z_size=63, x_size=127, batch_size=2))
    assert batch["im_z"].shape == (2, 3, 63, 63) and batch["im_x"].shape == (2, 3, 127, 127)
    with pytest.raises(ValueError, match="victim takes"):
        train_attack(
            victim(),
            iter([{"im_z": batch["im_z"], "im_x": batch["im_x"][..., :100, :100]}]),
            AttackSettings(patch_size=16, iterations=1),
        )

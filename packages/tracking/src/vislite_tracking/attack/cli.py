"""``vislite-attack``: train universal perturbations against a SiamFC++ victim, and evaluate them.

Examples::

    vislite-attack train --victim siamfcpp-googlenet-got.pkl --backbone googlenet --dataset got10k \\
        --root data/got10k --split train --phase OURS --patch-size 64 --iterations 2048 --out attack/ours
    vislite-attack eval --victim siamfcpp-googlenet-got.pkl --backbone googlenet \\
        --perturbation attack/ours/perturbation_2048.pt --dataset got10k --root data/got10k --split val \\
        --placement oracle --out attack/ours/got10k_val --plot

``train`` writes ``perturbation_<n>.pt`` at n = 1, 2, 4, ... and the final one; ``eval`` tracks under attack
(``attacked/``, ``fgt/``), scores the results against GT and FGT (the dataset's toolkit convention: got10k for
GOT-10k, pytracking otherwise), the SSIM of both perturbations, optionally a random-patch control of the same
norm and a trajectory strip, and writes ``attack_scores.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from vislite_tracking.attack.evaluate import (
    TRAJECTORIES,
    plot_trajectories,
    random_like,
    run_attack,
    score_attack,
    ssim_on_gray,
)
from vislite_tracking.attack.perturbation import load_perturbation
from vislite_tracking.attack.placement import PHASES
from vislite_tracking.attack.tracker import PLACEMENTS
from vislite_tracking.attack.train import AttackSettings, train_attack
from vislite_tracking.data.registry import load_sequences
from vislite_tracking.siamfcpp.load import load_siamfcpp
from vislite_tracking.siamfcpp.tracker import SiamFCppTracker


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--victim", required=True, type=Path, help="SiamFC++ checkpoint (vislite or video_analyst)")
    parser.add_argument("--backbone", help="backbone of a video_analyst checkpoint (alexnet, googlenet, ...)")
    parser.add_argument("--dataset", required=True, choices=["got10k", "lasot", "otb"], help="dataset layout of --root")
    parser.add_argument("--root", required=True, type=Path, help="dataset root folder")
    parser.add_argument("--split", help="dataset split (GOT-10k train / val, LaSOT train / test)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="vislite-attack", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train uap_z and patch_x against a frozen victim")
    add_common(train)
    train.add_argument("--phase", default="OURS", choices=PHASES)
    train.add_argument("--patch-size", type=int, default=64)
    train.add_argument("--iterations", type=int, default=2048)
    train.add_argument("--batch-size", type=int, default=96)
    train.add_argument("--step-z", type=float, help="FGSM step of uap_z (default 0.1, 0 for AP)")
    train.add_argument("--step-x", type=float, help="FGSM step of patch_x (default 0.5 for AP, else 0.1)")
    train.add_argument("--jitter", type=float, default=64.0, help="fake-box centre jitter in search-crop px")
    train.add_argument("--weights", type=float, nargs=3, default=(1.0, 1.0, 1.0), metavar=("CLS", "CTR", "REG"))
    train.add_argument("--seed", type=int, default=0)
    ev = sub.add_parser("eval", help="track under attack and score against GT and FGT")
    add_common(ev)
    ev.add_argument("--perturbation", required=True, type=Path, help="perturbation_<n>.pt")
    ev.add_argument("--placement", default="oracle", choices=PLACEMENTS)
    ev.add_argument("--trajectory", default="line", choices=TRAJECTORIES, help="predefined trajectory kind")
    ev.add_argument("--control", action="store_true", help="also run a random perturbation of the same norm")
    ev.add_argument("--plot", action="store_true", help="write a trajectory strip of the first sequence")
    return parser


def run_train(args: argparse.Namespace) -> dict[str, Any]:
    victim = load_siamfcpp(args.victim, backbone=args.backbone)
    sequences = load_sequences(args.dataset, args.root, args.split)
    from vislite_tracking.attack.pairs import attack_batches

    batches = attack_batches(
        sequences, z_size=victim.z_size, x_size=victim.x_size, batch_size=args.batch_size, seed=args.seed
    )
    cls_w, ctr_w, reg_w = args.weights
    settings = AttackSettings(
        phase=args.phase,
        patch_size=args.patch_size,
        iterations=args.iterations,
        step_z=args.step_z,
        step_x=args.step_x,
        cls_weight=cls_w,
        ctr_weight=ctr_w,
        reg_weight=reg_w,
        jitter=args.jitter,
        seed=args.seed,
    )

    def log(n: int, record: dict[str, float]) -> None:
        if n & (n - 1) == 0:
            print(f"iteration {n}: " + ", ".join(f"{k} {v:.4f}" for k, v in record.items()), flush=True)

    pert, history = train_attack(victim, batches, settings, save_dir=args.out, log=log)
    from vislite_tracking.attack.perturbation import save_perturbation

    path = save_perturbation(pert, args.out / f"perturbation_{pert.iteration}.pt")
    return {"perturbation": str(path), "first": history[0], "last": history[-1]}


def run_eval(args: argparse.Namespace) -> dict[str, Any]:
    victim = load_siamfcpp(args.victim, backbone=args.backbone)
    pert = load_perturbation(args.perturbation, z_size=victim.z_size, x_size=victim.x_size)
    sequences = load_sequences(args.dataset, args.root, args.split)
    convention = "got10k" if args.dataset == "got10k" else "pytracking"
    runs = {"attacked": pert}
    if args.control:
        runs["random"] = random_like(pert)
    report: dict[str, Any] = {"convention": convention, "ssim": ssim_on_gray(pert, victim.x_size)}
    for name, perturbation in runs.items():
        folder = args.out / name
        run_attack(
            lambda: SiamFCppTracker(victim),
            perturbation,
            sequences,
            folder,
            placement=args.placement,
            trajectory=args.trajectory,
        )
        report[name] = score_attack(sequences, folder, dataset=args.dataset, convention=convention)
    if args.plot:
        report["plot"] = str(plot_trajectories(sequences[0], args.out / "attacked", args.out / "trajectories.png"))
    return report


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    args.out.mkdir(parents=True, exist_ok=True)
    report = run_train(args) if args.command == "train" else run_eval(args)
    name = "attack_train.json" if args.command == "train" else "attack_scores.json"
    (args.out / name).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

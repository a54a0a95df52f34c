"""``vislite-attack-demo``: the universal targeted attack end to end on the embedded tracking world.

Stages: (1) ``vislite-tracking experiment=demo_siamfcpp`` trains the tiny SiamFC++ victim on the world's LaSOT +
GOT-10k train sequences; (2) the victim and the first-frame-box baseline track the held-out GOT-10k ``val``
sequences (AO, got10k convention); (3) ``uap_z`` and ``patch_x`` are trained against the frozen victim; (4) the
victim tracks under the attack and under a random perturbation of the same norm, scored against GT and FGT;
(5) the table, ``results.json`` and a trajectory strip (real green, fake red, attacked yellow) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from vislite_common.engine.stages import last_checkpoint, run_stage
from vislite_tracking.data import load_sequences


def table(rows: dict[str, dict[str, Any]]) -> str:
    """The demo's table: GT-AO / GT-SR50 and FGT-AO / FGT-SR50 per tracker (percent, '-' when not defined)."""
    cols = [("gt", "ao", "GT-AO"), ("gt", "sr50", "GT-SR50"), ("fgt", "ao", "FGT-AO"), ("fgt", "sr50", "FGT-SR50")]
    lines = [f"{'tracker':<26}" + "".join(f"{title:>10}" for _, _, title in cols)]
    for name, scores in rows.items():
        cells = []
        for part, key, _ in cols:
            value = scores.get(part, {}).get(key)
            cells.append(f"{value:>10.1f}" if value is not None else f"{'-':>10}")
        lines.append(f"{name:<26}" + "".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/demo-attack"), help="runs, results and plots")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="where the embedded world is written")
    parser.add_argument("--phase", default="OURS", choices=["OURS", "AP", "UAP"])
    parser.add_argument("--patch-size", type=int, default=24, help="patch side in search-crop px (crop 127)")
    parser.add_argument("--iterations", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--step-x", type=float, default=4.0, help="FGSM step of the patch (recipe 0.1, raised here)")
    parser.add_argument("--step-z", type=float, default=1.0, help="FGSM step of uap_z (recipe 0.1, raised here)")
    parser.add_argument("--placement", default="oracle", choices=["oracle", "trajectory"])
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for the victim's training run")
    args = parser.parse_args(argv)
    out, data_dir = args.out.resolve(), args.data_dir.resolve()
    run_stage("vislite_tracking.train", "victim", ["experiment=demo_siamfcpp"], out, data_dir, args.overrides)
    checkpoint = last_checkpoint(out, "victim")

    import torch

    from vislite_tracking.attack.evaluate import plot_trajectories, random_like, run_attack, score_attack, ssim_on_gray
    from vislite_tracking.attack.pairs import attack_batches
    from vislite_tracking.attack.perturbation import save_perturbation
    from vislite_tracking.attack.train import AttackSettings, train_attack
    from vislite_tracking.eval import FirstFrameTracker, evaluate, run_ope
    from vislite_tracking.siamfcpp.load import load_siamfcpp
    from vislite_tracking.siamfcpp.tracker import SiamFCppTracker

    torch.set_flush_denormal(True)
    world = data_dir / "world" / "tracking"
    held_out = load_sequences("got10k", world / "got10k", "val")
    victim = load_siamfcpp(checkpoint)
    print(f"=== clean tracking on {len(held_out)} held-out sequences", flush=True)
    rows: dict[str, dict[str, Any]] = {}
    for name, make in (("SiamFC++ (clean)", lambda: SiamFCppTracker(victim)), ("first-frame box", FirstFrameTracker)):
        folder = out / "results" / name.split()[0].lower()
        run_ope(make, held_out, folder, progress=False)
        scores = evaluate(held_out, folder, dataset="got10k", convention="got10k")
        rows[name] = {"gt": {"ao": scores["ao"], "sr50": scores["sr50"]}}
    print(f"=== training the {args.phase} perturbation ({args.iterations} iterations)", flush=True)
    train_sequences = load_sequences("got10k", world / "got10k", "train") + load_sequences(
        "lasot", world / "lasot", None
    )
    batches = attack_batches(train_sequences, z_size=victim.z_size, x_size=victim.x_size, batch_size=args.batch_size)
    settings = AttackSettings(
        phase=args.phase,
        patch_size=args.patch_size,
        iterations=args.iterations,
        step_x=args.step_x,
        step_z=args.step_z,
        jitter=64.0 * victim.x_size / 303,
    )
    pert, history = train_attack(victim, batches, settings, save_dir=out / "perturbations")
    save_perturbation(pert, out / "perturbations" / "final.pt")
    print(
        f"attack loss {history[0]['total']:.3f} -> {history[-1]['total']:.3f} (mean of the last 16: "
        f"{sum(h['total'] for h in history[-16:]) / min(16, len(history)):.3f})",
        flush=True,
    )
    for name, perturbation in (("attacked (ours)", pert), ("random patch, same norm", random_like(pert))):
        folder = out / "results" / ("attacked" if name.startswith("attacked") else "random")
        run_attack(lambda: SiamFCppTracker(victim), perturbation, held_out, folder, placement=args.placement)
        rows[name] = score_attack(held_out, folder, dataset="got10k", convention="got10k")
    ssim = ssim_on_gray(pert, victim.x_size)
    print(table(rows))
    print(f"SSIM-z {ssim['ssim_z']:.3f}  SSIM-x {ssim['ssim_x']:.3f}")
    strip = plot_trajectories(held_out[0], out / "results" / "attacked", out / "trajectory_strip.png")
    (out / "results.json").write_text(json.dumps({"rows": rows, "ssim": ssim, "settings": vars(settings)}, indent=2))
    print(f"=== wrote {strip}, {out / 'results.json'}")


if __name__ == "__main__":
    main()

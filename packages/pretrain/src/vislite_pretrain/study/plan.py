"""The study's runs: which ``vislite-pretrain`` jobs, in which order, with which overrides.

Everything runs on the embedded world at 64 px (ViT-Tiny/16: 16 patches), with the demo's recipes:

1. a teacher: MAE-lite pre-trained first, twice as long and from another seed (the paper's teacher is an
   MAE-Base; a 15x larger model does not fit a CPU budget of minutes, a longer-trained one of the same family
   shows the same mechanism);
2. the three pre-trainings compared: MAE-lite, MoCo-v3 and D-MAE (MAE-lite + attention distillation from the
   teacher), with the same number of epochs for the two MIM runs;
3. fine-tuning of each (and of scratch) on several labelled fractions of the training split, more epochs for
   smaller fractions so each run takes a comparable number of steps;
4. a linear probe of each pre-trained encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vislite_pretrain.demo.stages import last_checkpoint

FRACTIONS: tuple[float, ...] = (0.1, 0.3, 1.0)
FINETUNE_EPOCHS: dict[float, int] = {0.1: 50, 0.3: 30, 1.0: 20}
TEACHER_EPOCHS = 80
MIM_EPOCHS = 40
MOCO_EPOCHS = 6
MOCO_MLP_DIM = 1024  # the recipe's 4096-wide heads would cost more than the ViT-Tiny itself at 16 patches
WORLD = ("data.image_size=64",)  # every run reads the same 64 px world
PRETRAINED = ("mae_lite", "mocov3", "d_mae")
LABELS = {"scratch": "scratch", "mae_lite": "MAE-lite", "mocov3": "MoCo-v3", "d_mae": "D-MAE", "teacher": "teacher"}


@dataclass(frozen=True)
class Stage:
    """One ``vislite-pretrain`` run written to ``<out>/<name>``."""

    name: str
    overrides: tuple[str, ...]


def _epochs(epochs: int, scale: float) -> tuple[str, ...]:
    """The epoch override; a scaled-down (quick) run also drops the warm-up, which may outlast it."""
    quick = ("model.scheduler.warmup_epochs=0",) if scale < 1 else ()
    return (f"trainer.max_epochs={max(1, round(epochs * scale))}", *quick)


def pretrain_stages(out: Path, *, scale: float = 1.0) -> list[Stage]:
    """Teacher first, then MAE-lite, MoCo-v3 and D-MAE; ``scale`` multiplies every epoch count (quick runs)."""
    teacher = last_checkpoint(out, "teacher")
    return [
        Stage("teacher", ("experiment=demo_pretrain", *WORLD, *_epochs(TEACHER_EPOCHS, scale), "seed=1")),
        Stage("mae_lite", ("experiment=demo_pretrain", *WORLD, *_epochs(MIM_EPOCHS, scale))),
        Stage(
            "mocov3",
            ("experiment=demo_mocov3", *WORLD, f"model.model.mlp_dim={MOCO_MLP_DIM}", *_epochs(MOCO_EPOCHS, scale)),
        ),
        Stage(
            "d_mae",
            (
                "experiment=demo_dmae",
                *WORLD,
                "data.input_size=64",
                "model.optimizer.base_lr=6e-3",  # demo_pretrain's MAE-lite recipe, so only the distillation differs
                *(("model.scheduler.warmup_epochs=5",) if scale >= 1 else ()),
                *_epochs(MIM_EPOCHS, scale),
                f"model.model.teacher.path={teacher}",
                "model.model.teacher.name=vislite_vit_tiny",
            ),
        ),
    ]


def finetune_name(init: str, fraction: float) -> str:
    """Run folder of the fine-tuning of ``init`` on ``fraction`` of the labels, e.g. ``finetune_mae_lite_10pct``."""
    return f"finetune_{init}_{round(100 * fraction)}pct"


def downstream_stages(out: Path, *, fractions: tuple[float, ...] = FRACTIONS, scale: float = 1.0) -> list[Stage]:
    """Fine-tuning of scratch and of each pre-trained encoder on each fraction, then a linear probe of each."""
    stages = []
    for init in ("scratch", *PRETRAINED):
        weights = "null" if init == "scratch" else str(last_checkpoint(out, init))
        for fraction in fractions:
            epochs = FINETUNE_EPOCHS.get(fraction, round(20 / fraction**0.5))
            overrides = ("experiment=demo_finetune", *WORLD, f"model.model.init={weights}")
            overrides += (f"data.train_fraction={fraction}", *_epochs(epochs, scale))
            stages.append(Stage(finetune_name(init, fraction), overrides))
    for init in PRETRAINED:
        overrides = ("experiment=demo_linprobe", *WORLD, f"model.model.encoder.init={last_checkpoint(out, init)}")
        stages.append(Stage(f"linprobe_{init}", (*overrides, *_epochs(10, scale))))
    return stages

"""Tracking layout (GOT-10k): ``OUT/{train,val}/GOT-10k_{Train,Val}_<n:06d>/00000001.jpg ...`` with
``groundtruth.txt`` (``x,y,w,h`` floats, 4 decimals, one line per frame), ``absence.label`` (0/1),
``cover.label`` (0..8, 0 = fully occluded, else ceil(8 x visible ratio)), ``cut_by_image.label`` (0/1) and
``meta_info.ini``, plus ``OUT/{train,val}/list.txt`` naming the sequence folders.
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from vislite_common.data.world.output import generate_once, save_jpeg, write_text
from vislite_common.data.world.seeding import check_seed, item_rng
from vislite_common.data.world.tracking import FrameLabel, SequencePlan, check_frame_size, plan_sequence
from vislite_common.data.world.vocab import SHAPES

SPLITS: dict[str, str] = {"train": "Train", "val": "Val"}  # folder → infix of sequence names


def write_got10k_labels(seq_dir: Path, labels: list[FrameLabel], plan: SequencePlan) -> None:
    """Write GOT-10k's ``groundtruth.txt``, ``*.label`` files and ``meta_info.ini`` for one sequence."""
    write_text(seq_dir / "groundtruth.txt", "".join(",".join(f"{v:.4f}" for v in lb.box) + "\n" for lb in labels))
    write_text(seq_dir / "absence.label", "".join(f"{int(lb.full_occlusion or lb.out_of_view)}\n" for lb in labels))
    write_text(seq_dir / "cover.label", "".join(f"{lb.cover}\n" for lb in labels))
    write_text(seq_dir / "cut_by_image.label", "".join(f"{int(lb.cut_by_image)}\n" for lb in labels))
    width, height = plan.frame_size
    meta = [
        "[METAINFO]",
        "url: vislite embedded world",
        f"object_class: {plan.target.shape}",
        "motion_class: moving",
        "major_class: shape",
        "root_class: object",
        "motion_adverb: smoothly",
        f"description: {plan.describe()}",
        "anno_fps: 10Hz",
        f"resolution: ({width}, {height})",
    ]
    write_text(seq_dir / "meta_info.ini", "\n".join(meta) + "\n")


def make_got10k(
    out: Path | str,
    *,
    seed: int = 0,
    frame_size: tuple[int, int] = (160, 120),
    num_train: int = 4,
    num_val: int = 2,
    num_frames: int = 40,
    progress: bool = False,
) -> Path:
    """Write GOT-10k-layout train/val sequences of ``num_frames`` frames of ``frame_size`` = (W, H) under ``out``
    and return ``out`` (idempotent, deterministic). Target classes are drawn at random."""
    seed = check_seed(seed)
    width, height = check_frame_size(frame_size)
    if num_train < 1 or num_val < 1 or num_frames < 2:
        raise ValueError(f"need num_train, num_val >= 1 and num_frames >= 2, got {num_train}, {num_val}, {num_frames}")
    counts = {"train": int(num_train), "val": int(num_val)}
    params = {
        "seed": int(seed),
        "frame_size": [width, height],
        "num_train": counts["train"],
        "num_val": counts["val"],
        "num_frames": int(num_frames),
    }

    def generate(root: Path) -> None:
        total = sum(counts.values()) * num_frames
        with tqdm(total=total, desc="got10k", unit="frame", disable=not progress) as bar:
            for split_id, (split, infix) in enumerate(SPLITS.items()):
                names = [f"GOT-10k_{infix}_{i + 1:06d}" for i in range(counts[split])]
                for i, name in enumerate(names):
                    rng = item_rng(seed, "got10k", split_id, i)
                    shape = SHAPES[int(rng.integers(len(SHAPES)))]
                    plan = plan_sequence(rng, shape, (width, height), num_frames)
                    labels = []
                    for t in range(num_frames):
                        image, label = plan.render(t)
                        save_jpeg(root / split / name / f"{t + 1:08d}.jpg", image)
                        labels.append(label)
                        bar.update()
                    write_got10k_labels(root / split / name, labels, plan)
                write_text(root / split / "list.txt", "".join(f"{name}\n" for name in names))

    return generate_once(out, "got10k", params, tuple(SPLITS), generate)

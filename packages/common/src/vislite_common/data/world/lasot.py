"""Tracking layout (LaSOT): ``OUT/<class>/<class>-<n>/img/00000001.jpg`` (1-based frame numbers) with
``groundtruth.txt`` (``x,y,w,h`` ints, one line per frame), ``full_occlusion.txt`` and ``out_of_view.txt``
(one line of comma-separated 0/1 flags) and ``nlp.txt`` (one-line description).

Sequence ``i`` tracks shape ``SHAPES[i % 8]`` and is numbered ``i // 8 + 1`` within its class.
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from vislite_common.data.world.output import generate_once, save_jpeg, write_text
from vislite_common.data.world.seeding import check_seed, item_rng
from vislite_common.data.world.tracking import FrameLabel, check_frame_size, plan_sequence
from vislite_common.data.world.vocab import SHAPES


def lasot_sequence_name(index: int) -> tuple[str, str]:
    """(class, sequence folder name) of sequence ``index`` (0-based), e.g. (``"star"``, ``"star-1"``)."""
    shape = SHAPES[index % len(SHAPES)]
    return shape, f"{shape}-{index // len(SHAPES) + 1}"


def write_lasot_labels(seq_dir: Path, labels: list[FrameLabel], description: str) -> None:
    """Write LaSOT's ``groundtruth.txt``, ``full_occlusion.txt``, ``out_of_view.txt`` and ``nlp.txt``."""
    boxes = "".join(",".join(str(int(round(v))) for v in label.box) + "\n" for label in labels)
    write_text(seq_dir / "groundtruth.txt", boxes)
    write_text(seq_dir / "full_occlusion.txt", ",".join(str(int(lb.full_occlusion)) for lb in labels) + "\n")
    write_text(seq_dir / "out_of_view.txt", ",".join(str(int(lb.out_of_view)) for lb in labels) + "\n")
    write_text(seq_dir / "nlp.txt", description + "\n")


def make_lasot(
    out: Path | str,
    *,
    seed: int = 0,
    frame_size: tuple[int, int] = (160, 120),
    num_sequences: int = 4,
    num_frames: int = 40,
    progress: bool = False,
) -> Path:
    """Write ``num_sequences`` LaSOT-layout sequences of ``num_frames`` frames of ``frame_size`` = (W, H) under
    ``out`` and return ``out`` (idempotent, deterministic)."""
    seed = check_seed(seed)
    width, height = check_frame_size(frame_size)
    if num_sequences < 1 or num_frames < 2:
        raise ValueError(f"need num_sequences >= 1 and num_frames >= 2, got {num_sequences}, {num_frames}")
    params = {
        "seed": int(seed),
        "frame_size": [width, height],
        "num_sequences": int(num_sequences),
        "num_frames": int(num_frames),
    }

    def generate(root: Path) -> None:
        with tqdm(total=num_sequences * num_frames, desc="lasot", unit="frame", disable=not progress) as bar:
            for i in range(num_sequences):
                shape, name = lasot_sequence_name(i)
                plan = plan_sequence(item_rng(seed, "lasot", i), shape, (width, height), num_frames)
                seq_dir = root / shape / name
                labels = []
                for t in range(num_frames):
                    image, label = plan.render(t)
                    save_jpeg(seq_dir / "img" / f"{t + 1:08d}.jpg", image)
                    labels.append(label)
                    bar.update()
                write_lasot_labels(seq_dir, labels, plan.describe())

    return generate_once(out, "lasot", params, SHAPES, generate)

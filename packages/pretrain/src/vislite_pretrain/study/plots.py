"""The study's own plot: fine-tuning accuracy against the labelled fraction, one line per initialisation."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def accuracy_vs_fraction(
    accuracy: Mapping[str, Mapping[float, float]], path: str | Path, *, chance: float | None = None
) -> Path:
    """Plot ``{label: {fraction: top-1}}`` (fractions on a log axis, accuracy in %) to ``path`` (PNG)."""
    figure, axis = plt.subplots(figsize=(5.5, 4))
    for label, points in accuracy.items():
        fractions = sorted(points)
        axis.plot([100 * f for f in fractions], [100 * points[f] for f in fractions], marker="o", label=label)
    if chance is not None:
        axis.axhline(100 * chance, color="grey", linestyle=":", label="chance")
    axis.set_xscale("log")
    axis.set_xlabel("labelled training images used (%)")
    axis.set_ylabel("fine-tuned top-1 on held-out images (%)")
    axis.set_title("Fine-tuning with fewer labels")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path

"""Success, precision and normalised-precision plots of several trackers' ``evaluate`` results, as one PNG."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_PANELS = (
    ("success", "auc", "Overlap threshold", "Success rate (%)", "Success plot"),
    ("precision", "precision", "Location error threshold (px)", "Precision (%)", "Precision plot"),
    (
        "norm_precision",
        "norm_precision",
        "Normalised location error threshold",
        "Precision (%)",
        "Normalised precision plot",
    ),
)


def plot_curves(results: Mapping[str, Mapping[str, Any]], out_png: str | os.PathLike) -> Path:
    """Draw each tracker's mean curves (legend: name and score, best first) and save ``out_png``."""
    if not results:
        raise ValueError("no results to plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(_PANELS), figsize=(15, 4.4))
    for axis, (curve, score, xlabel, ylabel, title) in zip(axes, _PANELS):
        ranked = sorted(results.items(), key=lambda item: -float(item[1][score]))
        for k, (name, result) in enumerate(ranked):
            data = result["curves"][curve]
            axis.plot(data["thresholds"], data["values"], color=f"C{k % 10}", label=f"{name} [{result[score]:.1f}]")
        first = next(iter(results.values()))
        axis.set(xlabel=xlabel, ylabel=ylabel, ylim=(0, 100), title=f"{title} ({first['convention']} convention)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="lower right" if curve != "success" else "lower left")
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out

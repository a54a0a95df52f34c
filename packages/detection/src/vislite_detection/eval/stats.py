"""Names of COCOeval's 12 summary statistics, in ``COCOeval.stats`` order."""

from __future__ import annotations

from collections.abc import Sequence

STAT_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def stats_dict(stats: Sequence[float]) -> dict[str, float]:
    """``{"AP": stats[0], ..., "ARl": stats[11]}``; ValueError when fewer than 12 values are given."""
    if len(stats) < len(STAT_NAMES):
        raise ValueError(f"expected COCOeval's {len(STAT_NAMES)} stats, got {len(stats)}")
    return {name: float(value) for name, value in zip(STAT_NAMES, stats)}


def format_stats(stats: dict[str, float]) -> str:
    """One ``name value`` line per statistic, in COCO order."""
    return "\n".join(f"{name:<6}{stats[name]:.4f}" for name in STAT_NAMES)

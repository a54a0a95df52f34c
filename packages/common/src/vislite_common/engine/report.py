"""Printing results for people: a small aligned table of metrics."""

from __future__ import annotations

from pytorch_lightning.utilities import rank_zero_only


@rank_zero_only
def print_metrics(metrics: dict[str, float], *, title: str = "results") -> None:
    """Print ``metrics`` as a two-column table, grouped by stage (``val/acc`` sorts beside ``val/loss``)."""
    if not metrics:
        print(f"{title}: no metrics were logged")
        return
    width = max(len(name) for name in metrics)
    print(f"\n{title}")
    print("-" * (width + 14))
    for name in sorted(metrics):
        print(f"{name:<{width}}  {metrics[name]:>10.4g}")
    print("-" * (width + 14))

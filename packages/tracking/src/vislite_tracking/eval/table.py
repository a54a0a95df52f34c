"""Plain-text tables of ``evaluate`` results for the terminal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OVERALL_KEYS: tuple[str, ...] = ("auc", "precision", "norm_precision", "op50", "op75", "ao", "sr50", "sr75", "fps")


def _cell(value: object) -> str:
    return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def format_table(rows: Mapping[str, Mapping[str, Any]], keys: tuple[str, ...] = OVERALL_KEYS) -> str:
    """One line per row name, one column per key present in any row; None and missing values print as ``-``."""
    columns = [k for k in keys if any(k in row for row in rows.values())]
    header = ["name", *columns]
    body = [[name, *(_cell(row.get(k)) for k in columns)] for name, row in rows.items()]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths)))
        for line in [header, *body]
    ]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])

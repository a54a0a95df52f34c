"""Writing analysis numbers: JSON and CSV files (atomic), and file-name-safe labels."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from vislite_common.fileio import atomic_write_text


def slug(label: str) -> str:
    """``label`` as a file-name part: each run of characters other than ``[A-Za-z0-9._-]`` becomes ``_``."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_")
    return cleaned or "model"


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON (keys sorted) and return the path."""
    path = Path(path)
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a CSV table with ``header`` and return the path."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path = Path(path)
    atomic_write_text(path, buffer.getvalue())
    return path

"""The error raised for malformed dataset files."""

from __future__ import annotations

import os
from pathlib import Path


class FormatError(ValueError):
    """A dataset file or folder does not have the expected layout; the message names the path and the expectation."""

    def __init__(self, path: str | os.PathLike, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = Path(path)


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else FileNotFoundError saying which file (``what``) was expected."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing {what}")
    return path


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a directory, else FileNotFoundError saying which folder (``what``) was expected."""
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: missing {what} (not a directory)")
    return path

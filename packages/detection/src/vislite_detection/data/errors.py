"""The error raised for a broken COCO annotation file: it names the file, the record and the field."""

from __future__ import annotations

import os

from vislite_common.data.formats import FormatError

FIX_HINT = "fix or remove it in the annotation file (nothing is dropped silently)"


class AnnotationError(FormatError):
    """A COCO annotation file breaks a rule; the message names the file, the record id, the field and the fix."""

    def __init__(self, path: str | os.PathLike, record: str, field: str, problem: str, hint: str = FIX_HINT) -> None:
        super().__init__(path, f"{record}: field {field!r} {problem}; {hint}")
        self.record = record
        self.field = field


BOX_HINT = f"{FIX_HINT}, or pass invalid_boxes='skip' to leave such boxes out with a warning"


class InvalidBoxError(AnnotationError):
    """A box with a non-positive width or height, or outside its image (skippable with ``invalid_boxes="skip"``)."""

    def __init__(self, path: str | os.PathLike, record: str, field: str, problem: str) -> None:
        super().__init__(path, record, field, problem, BOX_HINT)

"""Docs that are generated from the code stay in step with it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from vislite_common.engine.config_reference import PACKAGES, reference

DOC = Path(__file__).resolve().parents[3] / "docs" / "configs.md"


@pytest.mark.skipif(not DOC.is_file(), reason="needs the repository's docs/")
@pytest.mark.skipif(any(importlib.util.find_spec(p) is None for p in PACKAGES), reason="needs every package")
def test_config_reference_lists_every_config() -> None:
    assert DOC.read_text() == reference(), (
        "docs/configs.md is out of date: python -m vislite_common.engine.config_reference > docs/configs.md"
    )


def test_every_config_option_has_a_description() -> None:
    text = reference(("vislite_common",))
    undocumented = [line for line in text.splitlines() if line.endswith("|  |")]
    assert not undocumented, undocumented

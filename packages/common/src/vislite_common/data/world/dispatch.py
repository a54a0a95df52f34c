"""``make_world(task, out, **kw)``: one entry point for every layout (and "all", into ``out/<task>``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vislite_common.data.world.ade20k import make_ade20k
from vislite_common.data.world.classification import make_classification
from vislite_common.data.world.coco import make_coco
from vislite_common.data.world.got10k import make_got10k
from vislite_common.data.world.lasot import make_lasot

MAKERS: dict[str, Callable[..., Path]] = {
    "classification": make_classification,
    "coco": make_coco,
    "ade20k": make_ade20k,
    "lasot": make_lasot,
    "got10k": make_got10k,
}
TASKS: tuple[str, ...] = (*MAKERS, "all")


def accepted_options(task: str) -> set[str]:
    """Keyword arguments accepted by ``make_<task>`` (besides ``out``)."""
    return set(inspect.signature(MAKERS[task]).parameters) - {"out"}


def make_world(task: str, out: Path | str, **kw: Any) -> Path:
    """Write the ``task`` layout under ``out`` (``make_<task>(out, **kw)``) and return its root.

    ``task="all"`` writes every layout into ``out/<task>``, passing each maker only the options it accepts;
    an option no maker accepts raises ValueError.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    tasks = list(MAKERS) if task == "all" else [task]
    known = set().union(*(accepted_options(t) for t in tasks))
    if unknown := sorted(set(kw) - known):
        raise ValueError(f"option(s) {unknown} do not apply to task {task!r}; accepted: {sorted(known)}")
    if task != "all":
        return MAKERS[task](out, **kw)
    for name in tasks:
        MAKERS[name](Path(out) / name, **{k: v for k, v in kw.items() if k in accepted_options(name)})
    return Path(out)

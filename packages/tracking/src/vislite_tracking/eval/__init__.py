"""OPE evaluation: run trackers over sequences, score results under pytracking's (or OSTrack's copy of it),
got10k-toolkit's or pysot-toolkit's conventions, print tables and plot success / precision curves.

Names are imported on first use, so that OPE worker processes (which import this package to run
``vislite_tracking.eval.worker``) start without loading the scoring and plotting stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vislite_tracking.lazy import lazy_exports

if TYPE_CHECKING:
    from vislite_tracking.eval.curves import Curves, EvaluationError, LengthMismatchWarning, Thresholds
    from vislite_tracking.eval.plots import plot_curves
    from vislite_tracking.eval.protocol import Box, FirstFrameTracker, Tracker
    from vislite_tracking.eval.records import Run
    from vislite_tracking.eval.results import load_runs, write_results
    from vislite_tracking.eval.runner import run_ope
    from vislite_tracking.eval.scoring import CONVENTIONS, DATASETS, evaluate
    from vislite_tracking.eval.table import format_table
    from vislite_tracking.eval.worker import track_sequence

_EXPORTS: dict[str, str] = {
    "CONVENTIONS": "scoring",
    "DATASETS": "scoring",
    "Box": "protocol",
    "Curves": "curves",
    "EvaluationError": "curves",
    "FirstFrameTracker": "protocol",
    "LengthMismatchWarning": "curves",
    "Run": "records",
    "Thresholds": "curves",
    "Tracker": "protocol",
    "evaluate": "scoring",
    "format_table": "table",
    "load_runs": "results",
    "plot_curves": "plots",
    "run_ope": "runner",
    "track_sequence": "worker",
    "write_results": "results",
}
__all__ = [
    "Box",
    "CONVENTIONS",
    "Curves",
    "DATASETS",
    "EvaluationError",
    "FirstFrameTracker",
    "LengthMismatchWarning",
    "Run",
    "Thresholds",
    "Tracker",
    "evaluate",
    "format_table",
    "load_runs",
    "plot_curves",
    "run_ope",
    "track_sequence",
    "write_results",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

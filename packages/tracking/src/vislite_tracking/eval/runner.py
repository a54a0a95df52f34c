"""One-pass evaluation (OPE): run a tracker over every sequence from its first-frame box, in parallel processes.

Each sequence gets a fresh tracker from ``make_tracker`` (which must be picklable when ``workers > 1``: the pool
uses the spawn start method, safe with threads and CUDA). Workers only track; this process writes
``<results_dir>/<seq>.txt`` and ``<seq>_time.txt`` (pytracking layout) as sequences finish. Spawned workers
re-import the calling script, so a script keeps its work (and heavy imports) under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections.abc import Callable, Iterator
from collections.abc import Sequence as Seq
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from vislite_tracking.data.sequence import Sequence
from vislite_tracking.eval.protocol import Tracker
from vislite_tracking.eval.records import Run
from vislite_tracking.eval.results import write_results
from vislite_tracking.eval.worker import track_job


def _check_picklable(make_tracker: Callable[[], Tracker]) -> None:
    try:
        pickle.dumps(make_tracker)
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        raise TypeError(
            f"make_tracker={make_tracker!r} cannot be sent to worker processes ({error}); with workers > 1 pass a "
            "module-level function or class, or a functools.partial of one"
        ) from error


def _finished(jobs: list, workers: int) -> Iterator[tuple[Sequence, Run]]:
    """Results as sequences finish; a worker that dies raises ``BrokenProcessPool`` instead of hanging."""
    if workers == 1 or len(jobs) <= 1:
        yield from map(track_job, jobs)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        futures = [pool.submit(track_job, job) for job in jobs]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:  # on an error, do not start the sequences still waiting
            for future in futures:
                future.cancel()


def run_ope(
    make_tracker: Callable[[], Tracker],
    sequences: Seq[Sequence],
    results_dir: str | os.PathLike,
    *,
    workers: int = 1,
    progress: bool = True,
    skip_existing: bool = False,
    integer_boxes: bool = True,
    threads_per_worker: int | None = None,
) -> Path:
    """Track every sequence and write its results; returns ``results_dir``.

    ``skip_existing`` keeps sequences whose ``<seq>.txt`` exists; ``integer_boxes`` truncates boxes to integers
    as the reference runners write them; ``threads_per_worker`` sets torch's thread count in each worker
    (default: the CPU count divided by ``workers`` when ``workers > 1``).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    todo = [s for s in sequences if not (skip_existing and (results_dir / f"{s.name}.txt").is_file())]
    if workers > 1:
        _check_picklable(make_tracker)
        if threads_per_worker is None:
            threads_per_worker = max(1, (os.cpu_count() or 1) // workers)
    jobs = [(make_tracker, seq, threads_per_worker) for seq in todo]
    with tqdm(total=sum(len(s) for s in todo), unit="frame", desc="OPE", disable=not progress) as bar:
        for seq, run in _finished(jobs, workers):
            write_results(results_dir, seq.name, run, integer_boxes=integer_boxes)
            bar.update(len(seq))
    return results_dir

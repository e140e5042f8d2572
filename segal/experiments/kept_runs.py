"""A grid's finished runs kept beside its results page, without checkpoints, and brought back from there.

A long grid is often run in parts on machines whose work roots do not last: a
scratch disk that is purged, a node lent for a few hours. With
``tools/grid.py --keep-runs``, each finished run's records (``config.json``,
``state.json``, ``metrics.jsonl``, its selections and logs; no checkpoints) are
copied to ``RESULTS/<experiment>/runs/<scorer>[/<variant>]/seed<k>``, and a
later part on a fresh work root copies them back instead of running them again.
A kept run is brought back only when its state passes the checks of any run
state (schema, digest, every planned step committed); the grid then checks its
config against the experiment's as for any run folder. The page's runs are
then also the records a reader re-makes the page from (``tools/report.py``).
"""
import logging
import shutil
from pathlib import Path
from typing import Callable, List

from ..engine.run_folder import RunFolder

logger = logging.getLogger("segal")


def kept_run_dir(results: str, experiment: str, work_root: str, work_dir: Path) -> Path:
    """Where the run in ``work_dir`` (under ``work_root/experiment``) is kept: the same path under the page."""
    return Path(results) / experiment / "runs" / Path(work_dir).relative_to(Path(work_root) / experiment)


def keep_run(work_dir: Path, kept: Path) -> None:
    """Copies a finished run's records to ``kept``, replacing an older copy only once the new one is whole."""
    staging = kept.with_name(kept.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    left_behind = [path.name for path in RunFolder(work_dir).beyond_records()]
    shutil.copytree(work_dir, staging, ignore=lambda folder, names: left_behind if Path(folder) == work_dir else [])
    if kept.exists():
        shutil.rmtree(kept)
    staging.rename(kept)


def bring_back(work_dir: Path, kept: Path) -> bool:
    """Copies a kept finished run into ``work_dir`` when that run has not started there; returns whether it did.

    A kept copy that is not a finished run (damaged, edited, cut short) is left where it is and not used.
    """
    if RunFolder(work_dir).has_state() or not RunFolder(kept).has_state():
        return False
    if not RunFolder(kept).is_finished():
        logger.warning("%s is not a finished run whose state passes its checks; it is not used, and the run is "
                       "run again", kept)
        return False
    work_dir.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(kept, work_dir, dirs_exist_ok=True)
    return True


def sync_kept_runs(runs: List, results: str, experiment: str, work_root: str) -> List:
    """Brings back the kept runs a work root lacks, then keeps the finished runs not kept yet.

    Args:
        runs: The grid's runs (:class:`~segal.experiments.grid.GridRun`).

    Returns:
        The runs brought back.
    """
    back = []
    for run in runs:
        kept = kept_run_dir(results, experiment, work_root, run.work_dir)
        if bring_back(run.work_dir, kept):
            back.append(run)
        elif RunFolder(run.work_dir).is_finished() and not _same_state(run.work_dir, kept):
            keep_run(run.work_dir, kept)
    return back


def _same_state(work_dir: Path, kept: Path) -> bool:
    """Whether ``kept`` holds the same committed state as ``work_dir`` (a run rerun since is kept again)."""
    mine, theirs = RunFolder(work_dir).state_path, RunFolder(kept).state_path
    return theirs.is_file() and mine.read_bytes() == theirs.read_bytes()


class KeepingFinished:
    """A grid's outcome callback that keeps each run as it finishes, then passes the outcome on.

    Args:
        report: The callback to pass every outcome on to (the grid's progress).
        results: The results root; runs are kept under ``results/<experiment>/runs/``.
        experiment: The experiment's name.
        work_root: The grid's work root.
    """

    def __init__(self, report: Callable, results: str, experiment: str, work_root: str):
        self.report, self.results, self.experiment, self.work_root = report, results, experiment, work_root

    def __call__(self, outcome) -> None:
        if outcome.status == "done":
            keep_run(outcome.run.work_dir, kept_run_dir(self.results, self.experiment, self.work_root,
                                                        outcome.run.work_dir))
        self.report(outcome)

"""Where a run's labels come from, and what that means for the steps a call of the loop runs.

:class:`SimulatedOracle` (benchmarks) reads the dataset's own labels at once,
so a run trains every planned step. :class:`Annotators` (real annotation
work) waits for label files: each call trains one step on the labels
delivered so far, and ``tools/select.py`` records the next selection in between.
The loop asks its oracle which ids it may use, how to finish the last record,
and which steps to run; it does not know which oracle it has.
"""
import logging
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from ..data.pool import ActivePool
from ..run_mode import RunMode
from ..scorers.base import BudgetError
from .run_state import RunStateError

logger = logging.getLogger("segal")


class MissingLabelsError(RunStateError):
    """Ids selected for annotation have no label file yet."""


@dataclass
class StepPlan:
    """What one call of the loop does.

    Attributes:
        finish_last: How the last committed record is completed first: ``'select'``
            (a simulated run extended by more steps selects with its last model),
            ``'delivered'`` (annotators delivered the pending selection's labels) or ``None``.
        steps: ``(step, whether it selects)`` for each step to train.
        delivered: With ``'delivered'``: the pending ids whose labels exist.
        pending: With ``'delivered'``: every pending id, as ``tools/select.py`` recorded them.
    """

    finish_last: Optional[str]
    steps: List[Tuple[int, bool]]
    delivered: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pending: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


class SimulatedOracle:
    """The dataset's labels answer every selection at once: a run trains all its planned steps."""

    def usable(self, dataset, ids: np.ndarray) -> np.ndarray:
        """The ids whose labels can be used: all of them."""
        return np.asarray(ids, dtype=np.int64)

    def check_budget(self, pool: ActivePool, num_steps: int, step_size: int) -> None:
        """Refuses a plan whose remaining steps need more ids than the pool has."""
        remaining = num_steps - max(pool.last_step, 0)
        needed, available = remaining * step_size, len(pool.candidate_ids())
        if needed > available:
            raise BudgetError(f"{remaining} more steps of {step_size} need {needed} ids, but the pool has only "
                              f"{available} unlabelled ids; lower protocol.num_steps or the step size")

    def check_restored(self, folder, records: List[dict], pool: ActivePool, dataset, num_steps: int,
                       regions=None) -> None:
        """Refuses a plan shorter than the run: the labels are all there, so nothing else can be missing."""
        last_step = records[-1]["step"] if records else 0
        if last_step > num_steps:
            raise RunStateError(f"{folder.root} has finished {last_step} steps; protocol.num_steps={num_steps} "
                                f"would shorten it. Resume with protocol.num_steps >= {last_step}, or start a new run")

    def after_run(self, records: List[dict]) -> None:
        """Nothing to ask for: the run has trained every step it could."""

    def plan(self, records: List[dict], num_steps: int) -> StepPlan:
        """The remaining steps; a finished run extended by more steps first selects with its last model."""
        extended = bool(records) and not records[-1]["selected_ids"] and records[-1]["step"] < num_steps
        first = records[-1]["step"] + 1 if records else 0
        return StepPlan("select" if extended else None, [(s, s < num_steps) for s in range(first, num_steps + 1)])


class Annotators:
    """Annotators deliver label files between calls: each call trains the next step on what has arrived.

    Args:
        allow_missing: Train without pending ids whose labels are still missing
            (with a warning) instead of refusing to.
    """

    def __init__(self, allow_missing: bool = False):
        self.allow_missing = allow_missing
        self.pending = np.zeros(0, dtype=np.int64)
        self._has_label = np.zeros(0, dtype=bool)

    def usable(self, dataset, ids: np.ndarray) -> np.ndarray:
        """The ids whose label files exist."""
        ids = np.asarray(ids, dtype=np.int64)
        return ids[dataset.has_label(ids)]

    def check_budget(self, pool: ActivePool, num_steps: int, step_size: int) -> None:
        """Selections are made by tools/select.py, which checks its own budget."""

    def check_restored(self, folder, records: List[dict], pool: ActivePool, dataset, num_steps: int,
                       regions=None) -> None:
        """A step must be pending annotation, and its labels delivered unless ``allow_missing``.

        With ``regions`` (region mode) the pending images are those with regions recorded for the next step;
        an image partly labelled earlier already has its label file.

        Raises:
            RunStateError: Nothing is pending (select first).
            MissingLabelsError: Pending ids have no label file; the message lists the files to write.
        """
        step = records[-1]["step"]
        self.pending = pool.labelled_ids(step + 1) if regions is None else regions.images(step + 1)
        self._has_label = dataset.has_label(self.pending)
        if not len(self.pending):
            raise RunStateError(f"{folder.state_path}: step {step} is trained and nothing is pending annotation; "
                                f"run tools/select.py to choose the next images")
        missing = self.pending[~self._has_label]
        if len(missing) and not self.allow_missing:
            listing = "\n  ".join(str(dataset.expected_label_path(int(i))) for i in missing)
            raise MissingLabelsError(
                f"{len(missing)} of the {len(self.pending)} images of annotation step {step + 1} have no label "
                f"file yet; write these:\n  {listing}\nor pass --allow-missing to train without them for now")
        if len(missing):
            logger.warning("training without %d selected images whose labels are missing: ids %s",
                           len(missing), missing.tolist())

    def plan(self, records: List[dict], num_steps: int) -> StepPlan:
        """One step: step 0 on a fresh run, else the step after the delivered selection; it never selects."""
        if not records:
            return StepPlan(None, [(0, False)])
        return StepPlan("delivered", [(records[-1]["step"] + 1, False)], self.delivered, self.pending)

    @property
    def delivered(self) -> np.ndarray:
        """The pending ids whose label files exist (set by :meth:`check_restored`)."""
        return self.pending[self._has_label]

    def after_run(self, records: List[dict]) -> None:
        """Says what comes next: a selection for the annotators."""
        logger.info("step %d trained; run tools/select.py to choose the next images to annotate", records[-1]["step"])


def make_oracle(mode: RunMode, allow_missing: bool = False):
    """The oracle of a run's mode: annotators' files, or the dataset's own labels."""
    return Annotators(allow_missing) if mode.labels_from_files else SimulatedOracle()

"""ActivePool: which global sample ids are pool, holdout or test, and when each was labelled."""
from enum import IntEnum
from typing import Optional, Sequence

import numpy as np

from ..errors import SegalError

UNLABELLED = -1


class Split(IntEnum):
    """The split each global sample id belongs to."""

    UNUSED = 0  # left out by the protocol, e.g. to make a pool imbalanced
    POOL = 1  # the labelled set and the unlabelled candidates
    HOLDOUT = 2  # early stopping and the holdout-based scorers; grows with loop.holdout_growth
    TEST = 3  # evaluation only


class PoolError(SegalError, ValueError):
    """An operation would break one of the pool's invariants."""


class ActivePool:
    """Split and labelling step of every global sample id.

    Invariants: only ``POOL`` ids are ever labelled, each at most once; a
    candidate is an unlabelled ``POOL`` id; a labelled id may later move to the
    ``HOLDOUT`` (a growing holdout), where it keeps its labelling step, so it
    still counts as labelled (an annotation) but is no longer trained on.

    Args:
        splits: ``[N]`` :class:`Split` values, one per global id (a list or an array).
    """

    def __init__(self, splits: Sequence[int]):
        self._split = _valid_splits(splits)
        self._labelled_step = np.full(len(self._split), UNLABELLED, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._split)

    def split_of(self, ids) -> np.ndarray:
        """Returns the :class:`Split` values of ``ids``."""
        return self._split[self._check_ids(ids)]

    def ids(self, split: Split) -> np.ndarray:
        """Sorted ids of ``split``."""
        return np.flatnonzero(self._split == split)

    @property
    def holdout_ids(self) -> np.ndarray:
        return self.ids(Split.HOLDOUT)

    @property
    def test_ids(self) -> np.ndarray:
        return self.ids(Split.TEST)

    def labelled_ids(self, step: Optional[int] = None) -> np.ndarray:
        """Sorted labelled ids (every annotation, holdout ones too): all of them, or those labelled at ``step``."""
        if step is None:
            return np.flatnonzero(self._labelled_step != UNLABELLED)
        return np.flatnonzero(self._labelled_step == step)

    def training_ids(self) -> np.ndarray:
        """Sorted labelled ids still in the pool split: what the model trains on."""
        return np.flatnonzero((self._split == Split.POOL) & (self._labelled_step != UNLABELLED))

    def candidate_ids(self) -> np.ndarray:
        """Sorted unlabelled pool ids: what a scorer may select from."""
        return np.flatnonzero((self._split == Split.POOL) & (self._labelled_step == UNLABELLED))

    def labelled_step(self, ids) -> np.ndarray:
        """The step each of ``ids`` was labelled at, or -1 when unlabelled."""
        return self._labelled_step[self._check_ids(ids)]

    @property
    def last_step(self) -> int:
        """The highest step any id was labelled at, or -1 when none is labelled."""
        return int(self._labelled_step.max(initial=UNLABELLED))

    def label(self, ids, step: int) -> None:
        """Marks ``ids`` as labelled at ``step``.

        Raises:
            PoolError: an id is repeated, out of range, not in the pool split, or
                already labelled. Nothing is changed in that case.
        """
        ids = self._check_ids(ids)
        if not _is_integer(step) or step < 0:
            raise PoolError(f"step must be an integer >= 0, got {step!r}")
        _check_unique(ids)
        not_pool = ids[self._split[ids] != Split.POOL]
        if len(not_pool):
            names = [Split(s).name.lower() for s in self._split[not_pool[:10]]]
            raise PoolError(
                f"cannot label ids outside the pool split: {not_pool[:10].tolist()} (splits {names})"
            )
        done = ids[self._labelled_step[ids] != UNLABELLED]
        if len(done):
            raise PoolError(
                f"ids already labelled: {done[:10].tolist()} "
                f"(at steps {self._labelled_step[done[:10]].tolist()})"
            )
        self._labelled_step[ids] = step

    def joined_holdout_ids(self) -> np.ndarray:
        """Sorted labelled ids that moved to the holdout (empty without a growing holdout)."""
        return np.flatnonzero((self._split == Split.HOLDOUT) & (self._labelled_step != UNLABELLED))

    def move_to_holdout(self, ids) -> None:
        """Moves labelled pool ids into the holdout; they keep their labelling step.

        Raises:
            PoolError: an id is repeated, out of range, not in the pool split, or
                not labelled. Nothing is changed in that case.
        """
        ids = self._check_ids(ids)
        _check_unique(ids)
        not_pool = ids[self._split[ids] != Split.POOL]
        if len(not_pool):
            raise PoolError(f"only pool ids can join the holdout, not {not_pool[:10].tolist()}")
        unlabelled = ids[self._labelled_step[ids] == UNLABELLED]
        if len(unlabelled):
            raise PoolError(f"only labelled ids can join the holdout, not {unlabelled[:10].tolist()}")
        self._split[ids] = Split.HOLDOUT

    def _check_ids(self, ids) -> np.ndarray:
        ids = _integer_array(ids, "ids").reshape(-1)
        bad = ids[(ids < 0) | (ids >= len(self))]
        if len(bad):
            raise PoolError(f"ids out of range [0, {len(self)}): {bad[:10].tolist()}")
        return ids

    def state_dict(self) -> dict:
        """A JSON-serialisable snapshot of the pool."""
        return {"splits": self._split.tolist(), "labelled_step": self._labelled_step.tolist()}

    def load_state_dict(self, state: dict) -> None:
        """Restores a snapshot from :meth:`state_dict`, checking it is consistent.

        Raises:
            PoolError: the snapshot is for another number of ids, or labels an id
                outside the pool and holdout splits.
        """
        splits = _valid_splits(state["splits"])
        steps = _integer_array(state["labelled_step"], "labelled_step")
        if splits.shape != self._split.shape or steps.shape != self._split.shape:
            raise PoolError(
                f"pool state has {len(splits)} splits and {len(steps)} steps, expected {len(self)} ids"
            )
        below = np.flatnonzero(steps < UNLABELLED)
        if len(below):
            raise PoolError(f"pool state has labelling steps below {UNLABELLED} for ids {below[:10].tolist()}")
        bad = np.flatnonzero((steps != UNLABELLED) & (splits != Split.POOL) & (splits != Split.HOLDOUT))
        if len(bad):
            raise PoolError(f"pool state labels ids outside the pool and holdout splits: {bad[:10].tolist()}")
        self._split = splits
        self._labelled_step = steps

    @classmethod
    def from_state_dict(cls, state: dict) -> "ActivePool":
        """Builds a pool from a :meth:`state_dict` snapshot."""
        if not isinstance(state, dict) or not {"splits", "labelled_step"} <= set(state):
            raise PoolError("a pool state needs 'splits' and 'labelled_step'")
        pool = cls(state["splits"])
        pool.load_state_dict(state)
        return pool


def _check_unique(ids: np.ndarray) -> None:
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise PoolError(f"ids given more than once: {unique[counts > 1].tolist()[:10]}")


def _is_integer(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _integer_array(values, what: str) -> np.ndarray:
    """``values`` as int64, refusing booleans, fractions and non-numbers instead of truncating them."""
    array = np.asarray(values)
    if array.size == 0:
        return array.astype(np.int64)
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise PoolError(f"{what} must be integers, got {array.reshape(-1)[:5].tolist()} ({array.dtype})")
    return array.astype(np.int64)


def _valid_splits(splits) -> np.ndarray:
    array = _integer_array(splits, "splits")
    if array.ndim != 1:
        raise PoolError(f"splits must be 1-D, got shape {array.shape}")
    unknown = set(np.unique(array).tolist()) - {int(s) for s in Split}
    if unknown:
        raise PoolError(f"unknown split values {sorted(unknown)}; valid: {[int(s) for s in Split]}")
    return array.astype(np.int8)

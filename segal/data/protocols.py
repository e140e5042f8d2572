"""The paper's splits (section 4.1): initial labelled set, holdout, pool and test.

Both protocols draw from the official train split and put the official test
split aside. Every size is a constructor argument, so a config can change it.

* :class:`BalancedProtocol`: every class equally represented; the holdout is as
  large as the initial set; a step adds ``step_fraction`` of the initial size.
* :class:`ImbalancedProtocol`: a ``minority_fraction`` of the classes is kept
  at ``minority_ratio`` of the others, in the initial set and in the pool; the
  initial per-class size and the step size are ``scale`` times the balanced
  ones; the holdout stays balanced at ``holdout_fraction`` of the initial size.
"""
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import numpy as np

from ..errors import SegalError
from ..registry import PROTOCOLS
from .costs import Budget
from .pool import ActivePool, Split


class ProtocolError(SegalError, ValueError):
    """The data cannot be split the way the protocol's config asks."""


@dataclass(frozen=True)
class Schedule:
    """How many ids each annotation step adds, and how many steps there are."""

    step_size: int
    num_steps: int


def _even_counts(total: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Splits ``total`` over classes as evenly as possible; the remainder goes to random classes."""
    counts = np.full(num_classes, total // num_classes, dtype=np.int64)
    counts[rng.permutation(num_classes)[: total % num_classes]] += 1
    return counts


def _draw_per_class(
    labels: np.ndarray, available: np.ndarray, counts: np.ndarray, rng: np.random.Generator, what: str
) -> np.ndarray:
    """Draws ``counts[c]`` ids of each class ``c`` from the ``available`` mask, without replacement."""
    chosen = []
    for c, n in enumerate(counts):
        ids = np.flatnonzero(available & (labels == c))
        if n > len(ids):
            raise ProtocolError(f"{what}: class {c} needs {n} samples but only {len(ids)} are left")
        chosen.append(rng.choice(ids, size=int(n), replace=False))
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def _make_pool(num_ids: int, pool_ids, holdout_ids, test_ids, initial_ids) -> ActivePool:
    splits = np.full(num_ids, Split.UNUSED, dtype=np.int8)
    splits[pool_ids] = Split.POOL
    splits[holdout_ids] = Split.HOLDOUT
    splits[test_ids] = Split.TEST
    pool = ActivePool(splits)
    pool.label(initial_ids, step=0)
    return pool


class Protocol:
    """Builds the splits of a dataset; see the subclasses for the rules."""

    schedule: Schedule
    #: What a step buys; ``None``: ``schedule.step_size`` images (or, for annotators, what tools/select.py asks).
    budget: Optional[Budget] = None

    def build(self, dataset, rng: np.random.Generator):
        """Splits the ids of a dataset.

        Args:
            dataset: The dataset: ``is_test`` (``[N]`` bool, the official test
                split) and, for class-balanced protocols, ``labels`` (``[N]``).
            rng: The source of every random draw.

        Returns:
            ``(pool, info)``: an :class:`ActivePool` whose initial set is labelled
            at step 0, and a JSON-serialisable dict describing the split.
        """
        raise NotImplementedError


def _check_positive(name: str, value, allow_zero: bool = False, integer: bool = False) -> None:
    if integer and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
        raise ProtocolError(f"protocol.{name} must be an integer, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value):
        raise ProtocolError(f"protocol.{name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ProtocolError(f"protocol.{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


@PROTOCOLS.register_module()
class BalancedProtocol(Protocol):
    """Balanced classes everywhere (section 4.1, balanced setting).

    Args:
        initial_size: Size of the initial labelled set (the paper: 50 MNIST,
            100 KMNIST, 500 SVHN, 5000 CIFAR10).
        holdout_size: Size of the holdout; ``None`` means ``initial_size``.
        step_fraction: Step size as a fraction of ``initial_size`` (0.1).
        step_size: An explicit step size, overriding ``step_fraction``.
        num_steps: Number of annotation steps (10).
    """

    def __init__(
        self,
        initial_size: int,
        holdout_size: Optional[int] = None,
        step_fraction: float = 0.1,
        step_size: Optional[int] = None,
        num_steps: int = 10,
    ):
        _check_positive("initial_size", initial_size, integer=True)
        if holdout_size is not None:
            _check_positive("holdout_size", holdout_size, integer=True)
        if step_size is not None:
            _check_positive("step_size", step_size, integer=True)
        _check_positive("step_fraction", step_fraction)
        _check_positive("num_steps", num_steps, allow_zero=True, integer=True)
        self.initial_size = int(initial_size)
        self.holdout_size = int(initial_size if holdout_size is None else holdout_size)
        step = step_size if step_size is not None else max(1, round(step_fraction * initial_size))
        self.schedule = Schedule(int(step), int(num_steps))

    def build(self, dataset, rng):
        labels, is_test = dataset.labels, dataset.is_test
        num_classes = int(labels.max()) + 1
        train = ~is_test
        initial = _draw_per_class(labels, train, _even_counts(self.initial_size, num_classes, rng), rng, "initial set")
        free = train.copy()
        free[initial] = False
        holdout = _draw_per_class(labels, free, _even_counts(self.holdout_size, num_classes, rng), rng, "holdout")
        free[holdout] = False
        pool_ids = np.flatnonzero(free)
        pool = _make_pool(len(labels), np.concatenate([initial, pool_ids]), holdout, np.flatnonzero(is_test), initial)
        return pool, {"type": "balanced"}


@PROTOCOLS.register_module()
class ImbalancedProtocol(Protocol):
    """Half of the classes under-represented (section 4.1, imbalanced setting).

    Args:
        initial_size: The *balanced* initial size of the dataset; the majority
            classes get ``scale * initial_size / num_classes`` initial samples each.
        scale: Factor on the balanced per-class initial size and step size (2).
        minority_fraction: Fraction of the classes that are under-represented (0.5).
        minority_ratio: Size of a minority class relative to a majority one,
            in the initial set and in the pool (0.1).
        minority_classes: Explicit minority class indices; ``None`` draws them.
        holdout_fraction: Holdout size as a fraction of the initial set's size
            (majority and minority classes together); the holdout is balanced,
            at least one sample per class (0.2).
        holdout_per_class: Holdout samples per class, instead of ``holdout_fraction``.
        pool_per_class: Unlabelled pool samples per majority class; ``None``
            takes as many as the rarest majority class has left.
        step_fraction: Balanced step size as a fraction of ``initial_size`` (0.1).
        num_steps: Number of annotation steps (10).
    """

    def __init__(
        self,
        initial_size: int,
        scale: float = 2,
        minority_fraction: float = 0.5,
        minority_ratio: float = 0.1,
        minority_classes: Optional[Sequence[int]] = None,
        holdout_fraction: float = 0.2,
        holdout_per_class: Optional[int] = None,
        pool_per_class: Optional[int] = None,
        step_fraction: float = 0.1,
        num_steps: int = 10,
    ):
        _check_positive("initial_size", initial_size, integer=True)
        _check_positive("scale", scale)
        _check_positive("holdout_fraction", holdout_fraction)
        _check_positive("step_fraction", step_fraction)
        _check_positive("num_steps", num_steps, allow_zero=True, integer=True)
        if pool_per_class is not None:
            _check_positive("pool_per_class", pool_per_class, integer=True)
        if holdout_per_class is not None:
            _check_positive("holdout_per_class", holdout_per_class, integer=True)
        if not 0 < minority_ratio <= 1:
            raise ProtocolError(f"protocol.minority_ratio must be in (0, 1], got {minority_ratio}")
        if not 0 <= minority_fraction < 1:
            raise ProtocolError(f"protocol.minority_fraction must be in [0, 1), got {minority_fraction}")
        self.initial_size = int(initial_size)
        self.scale = scale
        self.minority_fraction = minority_fraction
        self.minority_ratio = minority_ratio
        self.minority_classes = None if minority_classes is None else sorted(int(c) for c in minority_classes)
        self.holdout_fraction = holdout_fraction
        self.holdout_per_class = holdout_per_class
        self.pool_per_class = pool_per_class
        self.schedule = Schedule(max(1, round(scale * step_fraction * initial_size)), int(num_steps))

    def _minority(self, num_classes: int, rng: np.random.Generator) -> np.ndarray:
        if self.minority_classes is not None:
            bad = [c for c in self.minority_classes if not 0 <= c < num_classes]
            if bad:
                raise ProtocolError(f"protocol.minority_classes {bad} outside [0, {num_classes})")
            if len(set(self.minority_classes)) >= num_classes:
                raise ProtocolError(f"protocol.minority_classes names all {num_classes} classes, leaving no majority "
                                    f"class")
            return np.asarray(self.minority_classes, dtype=np.int64)
        count = round(self.minority_fraction * num_classes)
        if count >= num_classes:
            raise ProtocolError(
                f"protocol.minority_fraction={self.minority_fraction} makes {count} of the {num_classes} classes "
                f"minorities, leaving no majority class; lower it below {(num_classes - 0.5) / num_classes:.3g}"
            )
        return np.sort(rng.choice(num_classes, size=count, replace=False))

    def _class_sizes(self, majority_size: int, is_minority: np.ndarray) -> np.ndarray:
        minority_size = max(1, round(majority_size * self.minority_ratio))
        return np.where(is_minority, minority_size, majority_size).astype(np.int64)

    def build(self, dataset, rng):
        labels, is_test = dataset.labels, dataset.is_test
        num_classes = int(labels.max()) + 1
        minority = self._minority(num_classes, rng)
        is_minority = np.isin(np.arange(num_classes), minority)
        train = ~is_test

        majority_initial = round(self.scale * self.initial_size / num_classes)
        if majority_initial < 1:
            raise ProtocolError(
                f"protocol.initial_size={self.initial_size} gives each majority class round(scale * initial_size / "
                f"{num_classes}) = {majority_initial} initial samples, fewer than a minority class's 1; raise "
                f"initial_size to at least {int(np.ceil(0.5 * num_classes / self.scale))}"
            )
        initial_counts = self._class_sizes(majority_initial, is_minority)
        initial = _draw_per_class(labels, train, initial_counts, rng, "initial set")
        free = train.copy()
        free[initial] = False

        holdout_per_class = self.holdout_per_class or max(1, round(self.holdout_fraction * initial_counts.sum()
                                                                   / num_classes))
        holdout_counts = np.full(num_classes, holdout_per_class, dtype=np.int64)
        holdout = _draw_per_class(labels, free, holdout_counts, rng, "holdout")
        free[holdout] = False

        left = np.bincount(labels[free], minlength=num_classes)
        majority_size = self.pool_per_class or int(left[~is_minority].min())
        if majority_size < 1:
            raise ProtocolError("pool: a majority class has no samples left after the initial set and the holdout")
        unlabelled = _draw_per_class(labels, free, self._class_sizes(majority_size, is_minority), rng, "pool")

        pool = _make_pool(
            len(labels), np.concatenate([initial, unlabelled]), holdout, np.flatnonzero(is_test), initial
        )
        info: Dict = {"type": "imbalanced", "minority_classes": minority.tolist()}
        return pool, info


@PROTOCOLS.register_module()
class RandomSplitProtocol(Protocol):
    """Uniformly random initial set and holdout from the pool split; for segmentation.

    Args:
        initial_size: Images in the initial labelled set (labelled whole).
        holdout_size: Images in the holdout.
        step_size: Images added per annotation step; ``None`` when ``budget`` says what a step buys.
        num_steps: Number of annotation steps.
        budget: ``dict(unit='images'|'regions'|'clicks'|'pixels', per_step=N)``, with
            ``first_steps=[N1, ...]`` for what the first selections buy instead
            (:class:`~segal.data.costs.Budget`); ``dict(unit='images', per_step=N)``
            is ``step_size=N``. Regions need ``dataset.regions``.
    """

    def __init__(self, initial_size: int, holdout_size: int, step_size: Optional[int] = None, num_steps: int = 10,
                 budget: Optional[dict] = None):
        if (step_size is None) == (budget is None):
            raise ProtocolError(f"set one of protocol.step_size and protocol.budget, not "
                                f"{'both' if budget is not None else 'neither'} (step_size=None with a budget)")
        if step_size is not None:
            _check_positive("step_size", step_size)
        self.budget = Budget.from_config(budget) if budget is not None else Budget("images", int(step_size))
        for name, value in (("initial_size", initial_size), ("holdout_size", holdout_size)):
            _check_positive(name, value)
        _check_positive("num_steps", num_steps, allow_zero=True)
        self.initial_size, self.holdout_size = int(initial_size), int(holdout_size)
        self.schedule = Schedule(self.budget.per_step, int(num_steps))

    def build(self, dataset, rng):
        is_test = np.asarray(dataset.is_test)
        train = np.flatnonzero(~is_test)
        needed = self.initial_size + self.holdout_size
        if needed > len(train):
            raise ProtocolError(
                f"initial set ({self.initial_size}) and holdout ({self.holdout_size}) need {needed} ids, "
                f"the pool split has {len(train)}"
            )
        drawn = rng.permutation(train)
        initial, holdout = np.sort(drawn[: self.initial_size]), np.sort(drawn[self.initial_size : needed])
        pool_ids = np.setdiff1d(train, holdout)
        return _make_pool(len(is_test), pool_ids, holdout, np.flatnonzero(is_test), initial), {"type": "random"}


@PROTOCOLS.register_module()
class LabelledFilesProtocol(Protocol):
    """For real annotation work: the pool split's images that already have labels start labelled.

    A random ``holdout_size`` of them becomes the holdout, the rest the
    initial labelled set; every other pool-split image is a candidate. Needs a
    dataset whose labels are files (``has_label``), such as Cityscapes with
    ``require_labels=False``.

    Args:
        holdout_size: Labelled images set aside as the holdout.
    """

    def __init__(self, holdout_size: int):
        _check_positive("holdout_size", holdout_size)
        self.holdout_size = int(holdout_size)
        self.schedule = Schedule(step_size=0, num_steps=0)

    def build(self, dataset, rng):
        if not hasattr(dataset, "has_label"):
            raise ProtocolError(f"LabelledFilesProtocol needs a dataset with label files, not {type(dataset).__name__}")
        is_test = np.asarray(dataset.is_test)
        train = np.flatnonzero(~is_test)
        labelled = train[dataset.has_label(train)]
        if len(labelled) <= self.holdout_size:
            raise ProtocolError(
                f"{len(labelled)} pool-split images have labels, but protocol.holdout_size={self.holdout_size} "
                f"takes that many and the initial set needs at least one more; label more images, or lower "
                f"protocol.holdout_size (at most {max(len(labelled) - 1, 0)} here)"
            )
        holdout = np.sort(rng.choice(labelled, size=self.holdout_size, replace=False))
        initial = np.setdiff1d(labelled, holdout)
        pool = _make_pool(len(is_test), np.setdiff1d(train, holdout), holdout, np.flatnonzero(is_test), initial)
        return pool, {"type": "labelled_files"}

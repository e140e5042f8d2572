"""Property tests (Hypothesis): the pool's invariants under random label sequences, and protocol splits."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segal.data.pool import UNLABELLED, ActivePool, PoolError, Split
from segal.data.protocols import BalancedProtocol, ImbalancedProtocol, ProtocolError

SPLIT_VALUES = [int(s) for s in Split]


@st.composite
def pools_and_operations(draw):
    splits = draw(st.lists(st.sampled_from(SPLIT_VALUES), min_size=1, max_size=40))
    n = len(splits)
    ids = st.lists(st.integers(min_value=-2, max_value=n + 1), min_size=0, max_size=6)
    steps = st.one_of(st.integers(min_value=-2, max_value=12), st.floats(allow_nan=True), st.booleans())
    operations = draw(st.lists(st.tuples(ids, steps), max_size=25))
    return splits, operations


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pools_and_operations())
def test_label_sequences_keep_the_invariants(case):
    splits, operations = case
    pool = ActivePool(splits)
    splits = np.asarray(splits)
    for ids, step in operations:
        before = pool.state_dict()
        try:
            pool.label(ids, step)
        except PoolError:
            assert pool.state_dict() == before, "a refused operation changes nothing"
            continue
        assert isinstance(step, int) and not isinstance(step, bool) and step >= 0
        assert (np.asarray(before["labelled_step"])[ids] == UNLABELLED).all(), "nothing is labelled twice"
        assert (splits[ids] == Split.POOL).all(), "only pool ids are labelled"
        assert (pool.labelled_step(ids) == step).all()
    labelled = pool.labelled_ids()
    assert (splits[labelled] == Split.POOL).all()
    assert not set(labelled.tolist()) & set(pool.candidate_ids().tolist())
    restored = ActivePool.from_state_dict(pool.state_dict())
    assert restored.state_dict() == pool.state_dict(), "state_dict round-trips exactly"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=-3, max_value=400), min_size=1, max_size=20),
       st.lists(st.integers(min_value=-5, max_value=20), min_size=1, max_size=20))
def test_loading_a_state_refuses_whatever_breaks_an_invariant(splits, steps):
    n = min(len(splits), len(steps))
    splits, steps = splits[:n], steps[:n]
    state = {"splits": splits, "labelled_step": steps}
    valid = (all(s in SPLIT_VALUES for s in splits) and all(t >= UNLABELLED for t in steps)
             and all(t == UNLABELLED or s in (Split.POOL, Split.HOLDOUT) for s, t in zip(splits, steps)))
    if valid:
        assert ActivePool.from_state_dict(state).state_dict() == state
    else:
        with pytest.raises(PoolError):
            ActivePool.from_state_dict(state)


class _Labels:
    """A dataset stand-in: ``labels`` and ``is_test``."""

    def __init__(self, per_class, num_test, rng):
        self.labels = rng.permutation(np.repeat(np.arange(len(per_class)), per_class))
        self.is_test = np.zeros(len(self.labels), dtype=bool)
        self.is_test[rng.choice(len(self.labels), size=num_test, replace=False)] = True


@settings(max_examples=150, deadline=None)
@given(num_classes=st.integers(2, 6), per_class=st.integers(5, 60), initial=st.integers(1, 60),
       holdout=st.one_of(st.none(), st.integers(1, 60)), seed=st.integers(0, 1000))
def test_balanced_splits_are_disjoint_and_of_the_documented_sizes(num_classes, per_class, initial, holdout, seed):
    rng = np.random.default_rng(seed)
    data = _Labels([per_class] * num_classes, num_classes, rng)
    protocol = BalancedProtocol(initial_size=initial, holdout_size=holdout)
    try:
        pool, _ = protocol.build(data, rng)
    except ProtocolError:
        return  # asked for more samples of a class than there are
    initial_ids, holdout_ids, test_ids = pool.labelled_ids(0), pool.holdout_ids, pool.test_ids
    assert len(initial_ids) == initial and len(holdout_ids) == (holdout or initial)
    assert not set(initial_ids) & set(holdout_ids) and not set(test_ids) & (set(initial_ids) | set(holdout_ids))
    assert set(test_ids) == set(np.flatnonzero(data.is_test))
    counts = np.bincount(data.labels[initial_ids], minlength=num_classes)
    assert counts.max() - counts.min() <= 1, "balanced"


@settings(max_examples=150, deadline=None)
@given(num_classes=st.integers(2, 8), per_class=st.integers(20, 80), initial=st.integers(1, 80),
       scale=st.sampled_from([1, 2, 3]), minority_fraction=st.floats(0, 0.99), ratio=st.floats(0.05, 1),
       seed=st.integers(0, 1000))
def test_imbalanced_splits_keep_minorities_smaller(num_classes, per_class, initial, scale, minority_fraction, ratio, seed):
    rng = np.random.default_rng(seed)
    data = _Labels([per_class] * num_classes, 0, rng)
    protocol = ImbalancedProtocol(initial_size=initial, scale=scale, minority_fraction=minority_fraction,
                                  minority_ratio=ratio)
    try:
        pool, info = protocol.build(data, rng)
    except ProtocolError:
        return
    minority = np.isin(np.arange(num_classes), info["minority_classes"])
    assert minority.sum() < num_classes, "at least one majority class"
    initial_counts = np.bincount(data.labels[pool.labelled_ids(0)], minlength=num_classes)
    majority_count = round(scale * initial / num_classes)
    assert (initial_counts[~minority] == majority_count).all()
    assert (initial_counts[minority] == max(1, round(majority_count * ratio))).all()
    assert (initial_counts[minority] <= majority_count).all(), "a minority class never outnumbers a majority one"
    unlabelled = pool.candidate_ids()
    pool_counts = np.bincount(data.labels[unlabelled], minlength=num_classes)
    assert (pool_counts[minority] <= pool_counts[~minority].min()).all()
    holdout_counts = np.bincount(data.labels[pool.holdout_ids], minlength=num_classes)
    assert holdout_counts.min() == holdout_counts.max() >= 1, "the holdout is balanced"
    assert not set(pool.holdout_ids) & set(pool.labelled_ids()) and not set(pool.holdout_ids) & set(unlabelled)

from types import SimpleNamespace

import numpy as np
import pytest

from segal.data import BalancedProtocol, ImbalancedProtocol, Split
from segal.data.protocols import ProtocolError


def make_labels(per_class_train=300, per_class_test=50, num_classes=10):
    """Train ids first, then test ids; every class equally frequent."""
    labels = np.concatenate([np.repeat(np.arange(num_classes), per_class_train), np.repeat(np.arange(num_classes), per_class_test)])
    is_test = np.arange(len(labels)) >= per_class_train * num_classes
    return labels, is_test


def build(protocol, labels, is_test, seed):
    return protocol.build(SimpleNamespace(labels=labels, is_test=is_test), np.random.default_rng(seed))


def counts(labels, ids, num_classes=10):
    return np.bincount(labels[ids], minlength=num_classes)


def check_disjoint_and_test(pool, is_test):
    initial, holdout = pool.labelled_ids(0), pool.holdout_ids
    candidates = pool.candidate_ids()
    assert not set(initial) & set(holdout) and not set(candidates) & set(holdout)
    assert pool.test_ids.tolist() == np.flatnonzero(is_test).tolist()
    assert not is_test[np.concatenate([initial, holdout, candidates])].any()


def test_balanced_counts_follow_the_paper():
    labels, is_test = make_labels()
    protocol = BalancedProtocol(initial_size=50)
    pool, info = build(protocol, labels, is_test, 0)
    assert counts(labels, pool.labelled_ids(0)).tolist() == [5] * 10
    assert counts(labels, pool.holdout_ids).tolist() == [5] * 10  # holdout as large as the initial set
    assert protocol.schedule.step_size == 5 and protocol.schedule.num_steps == 10  # 10% of initial, 10 steps
    # every other train id is in the pool
    assert len(pool.candidate_ids()) == 3000 - 50 - 50
    check_disjoint_and_test(pool, is_test)
    assert info["type"] == "balanced"


def test_balanced_numbers_are_config_values():
    labels, is_test = make_labels()
    protocol = BalancedProtocol(initial_size=100, holdout_size=30, step_fraction=0.2, num_steps=4)
    pool, _ = build(protocol, labels, is_test, 1)
    assert len(pool.labelled_ids(0)) == 100 and len(pool.holdout_ids) == 30
    assert protocol.schedule.step_size == 20 and protocol.schedule.num_steps == 4
    assert BalancedProtocol(initial_size=100, step_size=7).schedule.step_size == 7


def test_imbalanced_counts_follow_the_paper():
    labels, is_test = make_labels()
    protocol = ImbalancedProtocol(initial_size=50, minority_classes=[0, 2, 4, 6, 8])
    pool, info = build(protocol, labels, is_test, 0)
    minority = np.isin(np.arange(10), [0, 2, 4, 6, 8])
    initial = counts(labels, pool.labelled_ids(0))
    # base per-class size doubled (2 * 50 / 10 = 10), minority at 1/10 of it
    assert initial[~minority].tolist() == [10] * 5 and initial[minority].tolist() == [1] * 5
    # holdout balanced, 1/5 of the initial size: 55 / 5 = 11 -> 1 per class
    assert counts(labels, pool.holdout_ids).tolist() == [1] * 10
    # pool: minority classes at 1/10 of the majority ones
    pool_counts = counts(labels, pool.candidate_ids())
    majority_size = 300 - 10 - 1
    assert pool_counts[~minority].tolist() == [majority_size] * 5
    assert pool_counts[minority].tolist() == [round(majority_size * 0.1)] * 5
    # step size doubled: 2 * 10% * 50
    assert protocol.schedule.step_size == 10
    check_disjoint_and_test(pool, is_test)
    # what is left out of the pool is marked unused, not silently dropped into another split
    assert (pool.split_of(np.arange(len(labels))) == Split.UNUSED).sum() == 3000 - 55 - 10 - len(pool.candidate_ids())
    assert info["minority_classes"] == [0, 2, 4, 6, 8]


def test_imbalanced_draws_half_of_the_classes_as_minority_reproducibly():
    labels, is_test = make_labels()
    protocol = ImbalancedProtocol(initial_size=100, holdout_fraction=0.5)
    pool_a, info_a = build(protocol, labels, is_test, 3)
    pool_b, info_b = build(protocol, labels, is_test, 3)
    assert info_a == info_b and len(info_a["minority_classes"]) == 5
    assert pool_a.state_dict() == pool_b.state_dict()
    initial = counts(labels, pool_a.labelled_ids(0))
    minority = np.isin(np.arange(10), info_a["minority_classes"])
    assert set(initial[~minority]) == {20} and set(initial[minority]) == {2}
    # holdout: round(0.5 * 110 / 10) = 6 per class
    assert counts(labels, pool_a.holdout_ids).tolist() == [6] * 10
    per_class, _ = build(ImbalancedProtocol(initial_size=100, holdout_fraction=0.5, holdout_per_class=9),
                         labels, is_test, 3)
    assert counts(labels, per_class.holdout_ids).tolist() == [9] * 10, "holdout_per_class overrides the fraction"


def test_too_few_samples_names_the_class():
    labels, is_test = make_labels(per_class_train=3)
    with pytest.raises(ProtocolError, match="class 0 needs 5"):
        build(BalancedProtocol(initial_size=50), labels, is_test, 0)


@pytest.mark.parametrize("kwargs, key", [(dict(initial_size=0), "initial_size"), (dict(initial_size=10, num_steps=-1), "num_steps")])
def test_bad_protocol_values_name_the_key(kwargs, key):
    with pytest.raises(ProtocolError, match=key):
        BalancedProtocol(**kwargs)


def test_minority_classes_must_leave_a_majority_class():
    two_classes = SimpleNamespace(labels=np.repeat([0, 1], 50), is_test=np.zeros(100, dtype=bool))
    with pytest.raises(ProtocolError, match="no majority class"):
        ImbalancedProtocol(initial_size=20, minority_classes=[0, 1]).build(two_classes, np.random.default_rng(0))

import numpy as np
import pytest

from segal.data import ActivePool, PoolError, Split


@pytest.fixture
def pool():
    # ids 0-5 pool, 6-7 holdout, 8-9 test
    return ActivePool([Split.POOL] * 6 + [Split.HOLDOUT] * 2 + [Split.TEST] * 2)


def test_label_records_step_and_removes_candidates(pool):
    pool.label([1, 3], step=0)
    pool.label([4], step=1)
    assert pool.candidate_ids().tolist() == [0, 2, 5]
    assert pool.labelled_ids().tolist() == [1, 3, 4]
    assert pool.labelled_ids(step=1).tolist() == [4]
    assert pool.labelled_step([1, 4, 0]).tolist() == [0, 1, -1]
    assert pool.last_step == 1


@pytest.mark.parametrize("bad_id, split", [(6, "holdout"), (9, "test")])
def test_cannot_label_holdout_or_test(pool, bad_id, split):
    with pytest.raises(PoolError, match=split):
        pool.label([0, bad_id], step=0)
    assert len(pool.labelled_ids()) == 0, "a refused label call must change nothing"


def test_cannot_label_twice(pool):
    pool.label([2], step=0)
    with pytest.raises(PoolError, match="already labelled"):
        pool.label([2], step=1)
    with pytest.raises(PoolError, match="more than once"):
        pool.label([0, 0], step=1)
    assert pool.labelled_step([2]).tolist() == [0]


def test_out_of_range_ids_are_refused(pool):
    with pytest.raises(PoolError, match="out of range"):
        pool.label([10], step=0)


def test_candidates_never_include_labelled_holdout_or_test(pool):
    pool.label([0, 5], step=0)
    candidates = pool.candidate_ids()
    assert set(candidates).isdisjoint({0, 5})
    assert (pool.split_of(candidates) == Split.POOL).all()


def test_state_dict_round_trip(pool):
    pool.label([1, 2], step=0)
    pool.label([5], step=1)
    restored = ActivePool.from_state_dict(pool.state_dict())
    assert restored.state_dict() == pool.state_dict()
    assert restored.candidate_ids().tolist() == pool.candidate_ids().tolist()


def test_load_state_dict_rejects_inconsistent_state(pool):
    state = pool.state_dict()
    state["labelled_step"][9] = 0  # a test id marked labelled
    with pytest.raises(PoolError, match="outside the pool and holdout splits"):
        pool.load_state_dict(state)
    with pytest.raises(PoolError, match="expected 10 ids"):
        pool.load_state_dict({"splits": [1, 1], "labelled_step": [-1, -1]})


def test_unknown_split_value_is_refused():
    with pytest.raises(PoolError, match="unknown split"):
        ActivePool(np.array([1, 7]))


def test_labelled_ids_joining_the_holdout_count_as_labelled_but_are_not_trained_on(pool):
    pool.label([0, 1, 2], step=0)
    pool.label([3, 4], step=1)
    pool.move_to_holdout([4, 1])
    assert pool.holdout_ids.tolist() == [1, 4, 6, 7]
    assert pool.labelled_ids().tolist() == [0, 1, 2, 3, 4], "an annotation stays an annotation"
    assert pool.labelled_ids(step=1).tolist() == [3, 4]
    assert pool.training_ids().tolist() == [0, 2, 3]
    assert pool.joined_holdout_ids().tolist() == [1, 4]
    assert pool.candidate_ids().tolist() == [5]
    restored = ActivePool.from_state_dict(pool.state_dict())
    assert restored.holdout_ids.tolist() == [1, 4, 6, 7] and restored.training_ids().tolist() == [0, 2, 3]


@pytest.mark.parametrize("ids, message", [([5], "only labelled ids"), ([6], "only pool ids"), ([9], "only pool ids"),
                                          ([0, 0], "more than once")])
def test_only_labelled_pool_ids_can_join_the_holdout(pool, ids, message):
    pool.label([0], step=0)
    with pytest.raises(PoolError, match=message):
        pool.move_to_holdout(ids)
    assert pool.holdout_ids.tolist() == [6, 7] and pool.training_ids().tolist() == [0], "nothing changed"

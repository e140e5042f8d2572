import numpy as np
import pytest
import torch

from segal.data import ActivePool, Digits, Split
from segal.models import MLPClassifier
from segal.scorers import BudgetError, Entropy, Random, ScoringContext
from segal.scorers.uncertainty import entropy


def test_entropy_matches_numpy_formula():
    logits = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    p = np.exp(logits.double().numpy())
    p /= p.sum(1, keepdims=True)
    expected = -(p * np.log(p)).sum(1)
    np.testing.assert_allclose(entropy(logits).numpy(), expected, rtol=1e-12)
    # pixel-wise: [B, C, H, W] -> [B, H, W]
    dense = torch.randn(2, 3, 4, 5)
    assert entropy(dense).shape == (2, 4, 5)


@pytest.fixture(scope="module")
def digits():
    return Digits()


def make_context(digits, seed=0, batch_size=64):
    torch.manual_seed(0)
    splits = np.where(digits.is_test, Split.TEST, Split.POOL)
    splits[:40] = Split.HOLDOUT
    pool = ActivePool(splits)
    pool.label(np.flatnonzero(splits == Split.POOL)[:30], step=0)
    model = MLPClassifier(digits.input_shape, 10, hidden=16)
    return ScoringContext(model=model, dataset=digits, pool=pool, device=torch.device("cpu"), step=0, seed=seed,
                          batch_size=batch_size, progress=False)


@pytest.mark.parametrize("scorer", [Random(), Entropy()])
def test_selection_is_top_k_of_candidates_only(digits, scorer):
    ctx = make_context(digits)
    selection = scorer.select(ctx, 25)
    assert len(selection.ids) == 25 == len(set(selection.ids.tolist()))
    assert (ctx.pool.split_of(selection.ids) == Split.POOL).all()
    assert not (ctx.pool.labelled_step(selection.ids) >= 0).any()
    assert np.all(np.diff(selection.scores) <= 0), "best first"
    # the selection is exactly the k best of the full candidate scoring
    all_scores = scorer.score_ids(ctx, ctx.pool.candidate_ids())
    assert selection.scores[-1] >= np.sort(all_scores)[-25]


def test_entropy_selection_agrees_with_a_direct_computation(digits):
    ctx = make_context(digits)
    candidates = ctx.pool.candidate_ids()
    with torch.no_grad():
        logits = ctx.model.eval()(digits.__getitems__(candidates.tolist())["inputs"])
    expected = entropy(logits).numpy()
    np.testing.assert_allclose(Entropy(precision="exact").score_ids(ctx, candidates), expected, rtol=1e-12)
    # 'fast': entropies in float32 (the logits' dtype), accumulated in float64
    np.testing.assert_allclose(Entropy().score_ids(ctx, candidates), expected, rtol=1e-6)
    top = candidates[np.argsort(-expected, kind="stable")[:10]]
    assert Entropy(precision="exact").select(ctx, 10).ids.tolist() == top.tolist()


def test_random_depends_on_the_step_seed_only(digits):
    a = Random().select(make_context(digits, seed=1, batch_size=64), 20).ids
    b = Random().select(make_context(digits, seed=1, batch_size=64), 20).ids
    c = Random().select(make_context(digits, seed=2), 20).ids
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()


def test_budget_larger_than_pool_is_refused(digits):
    ctx = make_context(digits)
    with pytest.raises(BudgetError, match="exceeds"):
        Entropy().select(ctx, len(ctx.pool.candidate_ids()) + 1)

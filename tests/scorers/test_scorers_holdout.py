"""HoldoutLossChange and HoldoutLossChangeApprox against plain references and the paper's example."""
import copy

import numpy as np
import pytest
import torch
from helpers.scorers import (
    Digits64,
    digits_context,
    inputs_and_targets,
    reference_approx_scores,
    reference_loss_changes,
    trained_mlp64,
)
from torch import nn

from segal.data import ActivePool, Split
from segal.models import ProbedModel
from segal.scorers import HoldoutLossChange, HoldoutLossChangeApprox, ScoringContext


@pytest.fixture(scope="module")
def setup():
    dataset = Digits64()
    model = trained_mlp64(dataset)
    ctx = digits_context(dataset, model, n_candidates=120)
    return dataset, model, ctx


def reference_holdout_change(model, x_pool, x_hold, y_hold, steps, lr):
    """Eq. 3 with the mean over holdout samples."""
    changes, _ = reference_loss_changes(model, x_pool, x_hold, y_hold, steps, lr)
    return np.asarray([float(c.mean()) for c in changes])


@pytest.mark.parametrize("method", ["auto", "vmap"])
@pytest.mark.parametrize("lr", [1e-3, 0.5, 20.0])  # 20: changes past exp's float32 range
def test_holdout_loss_change_matches_the_plain_reference(setup, lr, method):
    dataset, model, ctx = setup
    candidates = ctx.pool.candidate_ids()
    x_pool, _ = inputs_and_targets(dataset, candidates)
    x_hold, y_hold = inputs_and_targets(dataset, ctx.pool.holdout_ids)
    expected = reference_holdout_change(model, x_pool, x_hold, y_hold, steps=3, lr=lr)
    scorer = HoldoutLossChange(steps=3, lr=lr, method=method)
    fast = scorer.score_ids(ctx, candidates)
    assert scorer.closed_form == (method == "auto"), "a linear head takes the closed form"
    np.testing.assert_allclose(fast, expected, rtol=1e-8, atol=1e-8 * np.abs(expected).max())
    k = 15
    assert scorer.select(ctx, k).ids.tolist() == candidates[np.argsort(-expected, kind="stable")[:k]].tolist()
    if lr == 1e-3:
        assert np.unique(np.sign(expected)).size > 1, "the test must see both rising and falling holdout losses"


def test_holdout_loss_change_does_not_touch_the_model(setup):
    _, model, ctx = setup
    before = copy.deepcopy(model.state_dict())
    HoldoutLossChange(lr=0.5).score_ids(ctx, ctx.pool.candidate_ids()[:10])
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_approx_matches_explicit_per_sample_gradients(setup):
    dataset, model, ctx = setup
    candidates = ctx.pool.candidate_ids()
    x_pool, _ = inputs_and_targets(dataset, candidates)
    x_hold, y_hold = inputs_and_targets(dataset, ctx.pool.holdout_ids)
    expected = reference_approx_scores(model, x_pool, x_hold, y_hold)
    fast = HoldoutLossChangeApprox().score_ids(ctx, candidates)
    np.testing.assert_allclose(fast, expected, rtol=1e-8, atol=1e-10 * np.abs(expected).max())


def test_approx_is_the_small_lr_limit_of_the_exact_score(setup):
    """Eq. 9: S(x) ~ -lr * grad l_v . grad l_x for one small step."""
    _, _, ctx = setup
    candidates = ctx.pool.candidate_ids()[:40]
    lr = 1e-6
    exact = HoldoutLossChange(steps=1, lr=lr).score_ids(ctx, candidates)
    approx = HoldoutLossChangeApprox().score_ids(ctx, candidates)
    np.testing.assert_allclose(exact / lr, approx, rtol=1e-3, atol=1e-4 * np.abs(approx).max())


class FixedFeatures(ProbedModel):
    """The paper's binary example: fixed non-negative features phi(x) = x and a linear head."""

    def __init__(self, theta):
        super().__init__()
        self.trunk = nn.Identity()
        self.head = nn.Linear(len(theta), 2, bias=False).double()
        with torch.no_grad():  # class-0 logit fixed at 0: softmax over [0, z] is sigmoid(z)
            self.head.weight.copy_(torch.stack([torch.zeros(len(theta)), torch.as_tensor(theta)]))


class Rows(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y)
        self.num_classes = 2

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"inputs": self.x[i], "target": self.y[i], "id": i}


def test_paper_binary_example_equals_the_kernel_sum():
    theta = np.array([0.5, -1.0, -1.0, -1.0, 0.7])
    # holdout: cluster A on dims 0-1 with label 1, cluster B on dims 2-3 with label 0
    holdout = np.array([[1.0, 0.2, 0, 0, 0], [0, 0, 1.0, 1.0, 0]])
    holdout_y = np.array([1, 0])
    pool = np.array([
        [0, 0, 0, 0, 1.0],  # case 1: dissimilar to every holdout sample
        [0.2, 1.0, 0, 0, 0],  # case 2a: similar to A (label 1), predicted 0 (z = -0.9)
        [0, 0, 1.0, 1.0, 0],  # case 2b: similar to B (label 0), predicted 0 (z = -2)
    ])
    x = np.concatenate([holdout, pool])
    dataset = Rows(x, np.concatenate([holdout_y, [0, 0, 0]]))
    ctx = ScoringContext(model=FixedFeatures(theta), dataset=dataset,
                         pool=ActivePool([Split.HOLDOUT] * 2 + [Split.POOL] * 3), device=torch.device("cpu"),
                         step=0, seed=0, progress=False)
    scores = HoldoutLossChangeApprox().score_ids(ctx, [2, 3, 4])

    def sigma(v):
        return 1 / (1 + np.exp(-v))

    pseudo = (pool @ theta > 0).astype(float)
    kernel = ((sigma(pool @ theta) - pseudo)[:, None] * (sigma(holdout @ theta) - holdout_y)[None, :]) * (pool @ holdout.T)
    # eq. 16 sums over the holdout; segal averages it (1/Nv), and the 2-class softmax
    # head carries the gradient in both rows (factor 2). Neither changes the ranking.
    expected = -(2 / len(holdout)) * kernel.sum(1)
    np.testing.assert_allclose(scores, expected, rtol=1e-12, atol=1e-15)
    assert scores[0] == 0.0, "case 1: orthogonal features give a zero kernel"
    assert scores[1] > 0, "case 2a: similar and wrongly predicted scores positive"
    assert scores[2] < 0, "case 2b: similar and correctly predicted scores negative"
    assert list(np.argsort(-scores)) == [1, 0, 2]
    # the exact criterion ranks the three cases the same way
    exact = HoldoutLossChange(steps=3, lr=0.1).score_ids(ctx, [2, 3, 4])
    assert exact[1] > exact[0] > exact[2] and abs(exact[0]) < 1e-15


@pytest.mark.parametrize("scale, fallback", [(1e-5, False), (1e-2, False), (0.1, False), (2.0, True), (20.0, True)])
def test_log_expected_exp_keeps_relative_precision_in_float32(scale, fallback):
    """The tanh form (small changes), the expm1 fallback (|delta| > 2) and, past float32's exp range
    (scale 20: changes up to ~300), the log-sum-exp, against float64."""
    from segal.scorers.linear_head import TANH_LIMIT, log_expected_exp

    gen = torch.Generator().manual_seed(0)
    gram = torch.rand(40, 30, generator=gen, dtype=torch.float64) * 5
    step = torch.randn(40, 6, generator=gen, dtype=torch.float64) * scale
    probs = torch.softmax(torch.randn(30, 6, generator=gen, dtype=torch.float64), dim=1)
    delta = -gram[:, :, None] * step[:, None, :]
    expected = torch.logsumexp(delta + probs.log(), -1) if scale > 10 else (probs * torch.expm1(delta)).sum(-1).log1p()
    fast = log_expected_exp(gram.float(), step.float(), 2 * probs.float()).double()
    assert (float((gram.abs().amax(1) * step.abs().amax(1)).max()) > TANH_LIMIT) == fallback
    assert torch.isfinite(fast).all()
    np.testing.assert_allclose(fast, expected, rtol=2e-5, atol=1e-6 * float(expected.abs().max()))

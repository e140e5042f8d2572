"""MC-Dropout, BALD, Coreset, BADGE and ErrReduction against direct formulas and references."""
import copy
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.scorers import Digits64, digits_context, inputs_and_targets, trained_mlp64

from segal.scorers import BADGE, BALD, Coreset, Entropy, ErrReduction, MCDropout
from segal.scorers.diversity import badge_factors, greedy_k_center, kmeans_pp_outer
from segal.scorers.dropout_passes import PassMasks, memoised
from segal.scorers.uncertainty import MCStatistics


@pytest.fixture(scope="module")
def dataset():
    return Digits64()


def test_mc_statistics_match_numpy_formulas():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=(7, 5))  # [T, B, C]
    stats = MCStatistics()
    for t in range(len(probs)):
        stats.update(torch.from_numpy(probs[t]))
    mean = probs.mean(0)
    predictive = -(mean * np.log(mean)).sum(1)
    expected_conditional = -(probs * np.log(probs)).sum(2).mean(0)
    np.testing.assert_allclose(stats.predictive_entropy().numpy(), predictive, rtol=1e-12)
    np.testing.assert_allclose(stats.mutual_information().numpy(), predictive - expected_conditional, rtol=1e-10)
    # identical passes carry no information about the weights
    same = MCStatistics()
    first = torch.from_numpy(probs[0].copy())
    for _ in range(3):
        same.update(first)
    np.testing.assert_allclose(same.mutual_information().numpy(), 0, atol=1e-12)
    assert np.array_equal(first.numpy(), probs[0]), "accumulating in place must not write into a caller's pass"
    # all passes at once (a batched head) sum the same as one at a time
    batched = MCStatistics()
    batched.update_many(torch.from_numpy(probs[:3]))
    batched.update_many(torch.from_numpy(probs[3:]))
    np.testing.assert_allclose(batched.sum_probs.numpy(), stats.sum_probs.numpy(), rtol=1e-14)
    np.testing.assert_allclose(batched.sum_entropy.numpy(), stats.sum_entropy.numpy(), rtol=1e-14)
    assert batched.passes == stats.passes == 7


def test_mc_scorers_use_active_dropout_and_restore_eval_mode(dataset):
    model = trained_mlp64(dataset, dropout=0.5)
    ctx = digits_context(dataset, model, n_candidates=50)
    candidates = ctx.pool.candidate_ids()
    mc = MCDropout(num_passes=10).score_ids(ctx, candidates)
    bald = BALD(num_passes=10).score_ids(ctx, candidates)
    assert (bald > 0).all(), "dropout passes must disagree"
    assert not np.allclose(mc, Entropy().score_ids(ctx, candidates))
    assert not model.training and not any(m.training for m in model.modules())
    # seeded per step: the same step gives the same scores
    np.testing.assert_array_equal(bald, BALD(num_passes=10).score_ids(ctx, candidates))


def test_mc_scorers_need_dropout(dataset):
    ctx = digits_context(dataset, trained_mlp64(dataset, dropout=0.0), n_candidates=10)
    with pytest.raises(ValueError, match="model.dropout"):
        BALD().score_ids(ctx, ctx.pool.candidate_ids())


def brute_force_greedy(points, centers, k):
    """Greedy k-center with the full distance matrix."""
    everything = np.concatenate([centers, points])
    dist = np.sqrt(((everything[:, None] - everything[None]) ** 2).sum(-1))
    covered = list(range(len(centers)))
    chosen = []
    for _ in range(k):
        nearest = dist[len(centers):, covered].min(1)
        nearest[chosen] = -1
        i = int(np.argmax(nearest))
        chosen.append(i)
        covered.append(len(centers) + i)
    return chosen


def test_greedy_k_center_matches_brute_force_and_is_a_2_approximation():
    rng = np.random.default_rng(1)
    points, centers = rng.normal(size=(40, 3)), rng.normal(size=(4, 3))
    chosen, radii = greedy_k_center(torch.from_numpy(points), torch.from_numpy(centers), 5)
    assert chosen.tolist() == brute_force_greedy(points, centers, 5)
    assert np.all(np.diff(radii) <= 1e-12), "each pick is no farther than the one before"

    small = points[:12]

    def radius(picked):  # the k-center objective: farthest point from its nearest center
        c = np.concatenate([centers, small[list(picked)]])
        return np.sqrt(((small[:, None] - c[None]) ** 2).sum(-1)).min(1).max()

    chosen, _ = greedy_k_center(torch.from_numpy(small), torch.from_numpy(centers), 3)
    optimum = min(radius(c) for c in itertools.combinations(range(12), 3))
    assert radius(chosen) <= 2 * optimum + 1e-12


def test_coreset_selects_far_candidates_seeded_with_the_labelled_set(dataset):
    model = trained_mlp64(dataset)
    ctx = digits_context(dataset, model, n_candidates=150)
    selection = Coreset().select(ctx, 8)
    feats = {int(i): ctx.trunk_features([i])[0].numpy() for i in ctx.pool.candidate_ids()}
    labelled = ctx.trunk_features(ctx.pool.labelled_ids()).numpy()
    candidates = ctx.pool.candidate_ids()
    expected = brute_force_greedy(np.stack([feats[int(i)] for i in candidates]), labelled, 8)
    assert selection.ids.tolist() == candidates[expected].tolist()


def test_badge_embedding_is_the_last_layer_gradient(dataset):
    model = trained_mlp64(dataset)
    x, _ = inputs_and_targets(dataset, range(20))
    z = model.trunk(x).detach()
    a, zz = badge_factors(model.head(z), z)
    for i in range(len(x)):
        logits = model.head(z[i:i + 1])
        weight_grad, = torch.autograd.grad(F.cross_entropy(logits, logits.argmax(1)), model.head.weight)
        torch.testing.assert_close(torch.outer(a[i], zz[i]), weight_grad, rtol=1e-10, atol=1e-12)


def reference_kmeans_pp(embeddings, k, generator):
    """k-means++ seeding on explicit embeddings, BADGE's first center being the largest norm."""
    chosen = [int(torch.argmax((embeddings**2).sum(1)))]
    d2 = torch.full((len(embeddings),), float("inf"), dtype=torch.float64)
    for _ in range(1, k):
        d2 = torch.minimum(d2, ((embeddings - embeddings[chosen[-1]]) ** 2).sum(1))
        d2[chosen] = 0
        chosen.append(int(torch.multinomial(d2, 1, generator=generator)))
    return chosen


def test_factored_kmeans_pp_matches_explicit_embeddings():
    gen = torch.Generator().manual_seed(0)
    a, z = torch.randn(60, 4, generator=gen, dtype=torch.float64), torch.randn(60, 7, generator=gen, dtype=torch.float64)
    explicit = torch.einsum("nc,nd->ncd", a, z).reshape(60, -1)
    chosen, _ = kmeans_pp_outer(a, z, 10, torch.Generator().manual_seed(3))
    assert chosen.tolist() == reference_kmeans_pp(explicit, 10, torch.Generator().manual_seed(3))
    assert len(set(chosen.tolist())) == 10


def test_badge_selection_is_reproducible_and_from_candidates(dataset):
    ctx = digits_context(dataset, trained_mlp64(dataset), n_candidates=200)
    first, second = BADGE().select(ctx, 12), BADGE().select(ctx, 12)
    assert first.ids.tolist() == second.ids.tolist()
    assert set(first.ids.tolist()) <= set(ctx.pool.candidate_ids().tolist())


def reference_err_reduction(model, x_pool, x_subset, steps, lr, error):
    scores = []
    for x in x_pool:
        with torch.no_grad():
            probs = torch.softmax(model(x[None]), 1)[0]
        expected = 0.0
        for c in range(len(probs)):
            probe = copy.deepcopy(model)
            optimizer = torch.optim.SGD(probe.head.parameters(), lr=lr)
            for _ in range(steps):
                optimizer.zero_grad()
                F.cross_entropy(probe(x[None]), torch.tensor([c])).backward()
                optimizer.step()
            with torch.no_grad():
                p = torch.softmax(probe(x_subset), 1)
            err = -(p * torch.log(p)).sum(1).mean() if error == "log" else (1 - p.max(1).values).mean()
            expected += float(probs[c] * err)
        scores.append(-expected)
    return np.asarray(scores)


@pytest.mark.parametrize("error", ["log", "zero_one"])
def test_err_reduction_matches_the_plain_reference(dataset, error):
    model = trained_mlp64(dataset)
    ctx = digits_context(dataset, model, n_candidates=60)
    scorer = ErrReduction(subset_size=25, steps=3, lr=0.5, error=error)
    candidates = ctx.pool.candidate_ids()[:12]
    fast = scorer.score_ids(ctx, candidates)
    subset = scorer.subset_ids
    assert len(subset) == 25 and set(subset.tolist()) <= set(ctx.pool.candidate_ids().tolist())
    x_pool, _ = inputs_and_targets(dataset, candidates)
    x_subset, _ = inputs_and_targets(dataset, subset)
    expected = reference_err_reduction(model, x_pool, x_subset, 3, 0.5, error)
    np.testing.assert_allclose(fast, expected, rtol=1e-8)


def reference_mc_probs(model, masks, x, num_passes):
    """MC passes by hand, one sample at a time: each dropout layer followed by a multiplication with
    the pass's mask, the whole model re-run per pass. ``[T, N, C]``."""
    layers = masks.layers
    probs = torch.zeros(num_passes, len(x), 10, dtype=torch.float64)
    with torch.no_grad():
        for t in range(num_passes):
            for n in range(len(x)):
                h = x[n:n + 1]
                for module in model.trunk:
                    h = module(h)
                    if module in layers:
                        h = h * masks.mask(layers.index(module), t, h.shape[1:], h.dtype, h.device)
                probs[t, n] = torch.softmax(model.head(h), dim=1)[0]
    return probs


@pytest.mark.parametrize("scorer_cls", [MCDropout, BALD])
def test_folded_passes_match_passes_by_hand(dataset, scorer_cls):
    model = trained_mlp64(dataset, dropout=0.5)
    ctx = digits_context(dataset, model, n_candidates=30, batch_size=7)
    candidates = ctx.pool.candidate_ids()
    scorer = scorer_cls(num_passes=6)
    fast = scorer.score_ids(ctx, candidates)
    x, _ = inputs_and_targets(dataset, candidates)
    stats = MCStatistics()
    stats.update_many(reference_mc_probs(model, scorer.masks, x, 6))
    expected = stats.predictive_entropy() if scorer_cls is MCDropout else stats.mutual_information()
    np.testing.assert_allclose(fast, expected.numpy(), rtol=1e-10, atol=1e-14)


def test_hooked_passes_match_folded_passes(dataset, monkeypatch):
    """The general path (whole model per pass, masks applied by hooks) gives the folded path's numbers."""
    from segal.scorers import uncertainty

    model = trained_mlp64(dataset, dropout=0.5)
    ctx = digits_context(dataset, model, n_candidates=40)
    folded = BALD(num_passes=8).score_ids(ctx, ctx.pool.candidate_ids())
    monkeypatch.setattr(uncertainty, "deterministic_prefix", lambda m: (torch.nn.Identity(), m))
    hooked = BALD(num_passes=8).score_ids(ctx, ctx.pool.candidate_ids())
    np.testing.assert_allclose(hooked, folded, rtol=1e-10)


def test_mc_scores_do_not_depend_on_the_batch(dataset):
    model = trained_mlp64(dataset, dropout=0.5)
    small = digits_context(dataset, model, n_candidates=40, batch_size=3)
    large = digits_context(dataset, model, n_candidates=40, batch_size=64)
    candidates = small.pool.candidate_ids()
    np.testing.assert_allclose(MCDropout(5).score_ids(small, candidates[::-1])[::-1],
                               MCDropout(5).score_ids(large, candidates), rtol=1e-12)


def test_pass_masks_are_scaled_bernoulli_shared_per_pass():
    cpu = torch.device("cpu")
    masks = PassMasks(torch.nn.Sequential(torch.nn.Dropout(0.3), torch.nn.Dropout2d(0.5)), seed=0)
    m = masks.mask(0, 0, torch.Size([20000]), torch.float64, cpu)
    assert set(torch.unique(m).tolist()) == {0.0, 1 / 0.7}
    assert abs(float((m > 0).double().mean()) - 0.7) < 0.015
    channel = masks.mask(1, 0, torch.Size([4000, 3, 5]), torch.float32, cpu)
    assert channel.shape == (4000, 1, 1), "Dropout2d drops whole channels"
    assert abs(float((channel > 0).float().mean()) - 0.5) < 0.03
    assert not torch.equal(m, masks.mask(0, 1, torch.Size([20000]), torch.float64, cpu)), "passes differ"
    again = PassMasks(masks.layers[0], seed=0).mask(0, 0, torch.Size([20000]), torch.float64, cpu)
    other_seed = PassMasks(masks.layers[0], seed=1).mask(0, 0, torch.Size([20000]), torch.float64, cpu)
    assert torch.equal(m, again) and not torch.equal(m, other_seed)
    with pytest.raises(ValueError, match="AlphaDropout"):
        PassMasks(torch.nn.AlphaDropout(0.2), seed=0)


@pytest.mark.parametrize("scorer_cls", [MCDropout, BALD])
def test_shared_masks_estimate_what_fresh_masks_estimate(dataset, scorer_cls):
    """Masks shared by all samples or drawn per sample: two MC estimates of one expectation."""
    model = trained_mlp64(dataset, dropout=0.5)
    ctx = digits_context(dataset, model, n_candidates=40)
    candidates = ctx.pool.candidate_ids()
    shared = scorer_cls(num_passes=400).score_ids(ctx, candidates)
    x, _ = inputs_and_targets(dataset, candidates)
    torch.manual_seed(0)
    model.trunk[-1].train()
    stats = MCStatistics()
    with torch.no_grad():
        for _ in range(400):
            stats.update(torch.softmax(model(x), dim=1))
    model.eval()
    fresh = (stats.predictive_entropy() if scorer_cls is MCDropout else stats.mutual_information()).numpy()
    np.testing.assert_allclose(shared, fresh, rtol=0.05, atol=0.01)
    assert np.corrcoef(shared, fresh)[0, 1] > 0.95


class AddOneInPlace(torch.nn.Module):
    def forward(self, x):
        return x.add_(1)


class CountingLinear(torch.nn.Linear):
    calls = 0

    def forward(self, x):
        self.calls += 1
        return super().forward(x)


def test_memoised_skips_repeated_work_but_not_after_in_place_changes():
    first = CountingLinear(4, 4)
    x = torch.randn(3, 4)
    plain = torch.nn.Sequential(first, torch.nn.Dropout(0.5), torch.nn.Linear(4, 2)).eval()
    with memoised(plain):
        outputs = [plain(x) for _ in range(3)]
    assert first.calls == 1, "the dropout-free first layer runs once for the same input"
    assert all(torch.equal(o, outputs[0]) for o in outputs)
    assert "forward" not in first.__dict__, "the module is restored"
    first.calls = 0
    # a later layer changes the stored output in place: it must be recomputed every time
    mutating = torch.nn.Sequential(first, AddOneInPlace(), torch.nn.Dropout(0.5), torch.nn.Linear(4, 2)).eval()
    expected = mutating(x.clone())
    with memoised(mutating):
        for _ in range(3):
            torch.testing.assert_close(mutating(x), expected)
    assert first.calls == 1 + 3

"""Region scores against direct computations: segment means, Ours-app's first-order identity, exact Ours."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.cityscapes import write_random_cityscapes
from helpers.scorers import Cityscapes64, batch_of, city_pool

from segal.models import SegmentationModel
from segal.scorers import BALD, Entropy, HoldoutLossChange, HoldoutLossChangeApprox, MCDropout, Random, ScoringContext
from segal.scorers.regions import RegionScores, available_regions, rank_regions, score_regions


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cityscapes_regions")
    write_random_cityscapes(root, {"train": 8, "val": 2}, height=32, width=64, seed=3)
    dataset = Cityscapes64(str(root), regions=dict(type="Grid", size=16))
    torch.manual_seed(0)
    model = SegmentationModel((3,), 19, dropout=0.2).double().eval()
    pool = city_pool(dataset, holdout=[1, 4], labelled=[0])
    ctx = ScoringContext(model=model, dataset=dataset, pool=pool, device=torch.device("cpu"), step=0, seed=0,
                         batch_size=2, progress=False)
    return dataset, model, ctx


@pytest.mark.parametrize("scorer", [Entropy(precision="exact"), HoldoutLossChangeApprox(precision="exact"),
                                    MCDropout(num_passes=4, precision="exact"), BALD(num_passes=4, precision="exact")],
                         ids=lambda s: type(s).__name__)
def test_the_image_score_is_the_area_weighted_mean_of_its_region_scores(setup, scorer):
    dataset, _, ctx = setup
    candidates = ctx.pool.candidate_ids()
    images = scorer.score_ids(ctx, candidates)
    regions = score_regions(scorer, ctx, candidates)
    assert regions.image_ids.tolist() == candidates.tolist()
    per_image = np.split(regions.scores, np.cumsum(regions.counts)[:-1])
    for image, image_score, region_scores in zip(candidates, images, per_image):
        areas = np.bincount(dataset.region_map(int(image)).ravel())
        assert len(region_scores) == len(areas) == 8
        assert np.average(region_scores, weights=areas) == pytest.approx(image_score, rel=1e-10, abs=1e-14)
    assert np.ptp(regions.scores) > 0, "regions of one image differ"


def test_ours_app_region_score_is_the_regions_own_first_order_score(setup):
    """-grad(holdout loss) . grad(mean pseudo-label loss over the region's pixels), by plain autograd."""
    dataset, model, ctx = setup
    candidates = ctx.pool.candidate_ids()[:2]
    scores = score_regions(HoldoutLossChangeApprox(precision="exact"), ctx, candidates)
    head = list(model.head.parameters())
    x_hold, y_hold = batch_of(dataset, ctx.pool.holdout_ids)
    holdout_grad = torch.autograd.grad(F.cross_entropy(model(x_hold), y_hold, ignore_index=255), head)
    x_pool, _ = batch_of(dataset, candidates)
    position = 0
    for x, image in zip(x_pool, candidates):
        logits = model(x[None])
        pseudo = logits.argmax(1)
        regions = torch.from_numpy(dataset.region_map(int(image)))
        for region in range(int(regions.max()) + 1):
            masked = torch.where(regions[None] == region, pseudo, torch.full_like(pseudo, -100))
            region_grad = torch.autograd.grad(F.cross_entropy(logits, masked), head, retain_graph=True)
            expected = -sum(float((g_v * g_r).sum()) for g_v, g_r in zip(holdout_grad, region_grad))
            assert scores.scores[position] == pytest.approx(expected, rel=1e-8, abs=1e-14)
            position += 1
    assert position == len(scores.scores)


def brute_force_region_scores(model, dataset, images, x_hold, y_hold, steps, lr):
    """Eq. 3 per region: SGD on the head with the region's pseudo-labelled pixels only (torch.optim.SGD), then
    the mean holdout-loss change over the holdout pixels whose loss rose."""
    with torch.no_grad():
        before = F.cross_entropy(model(x_hold), y_hold, reduction="none", ignore_index=255)
    scores = []
    for image in images:
        x = dataset[int(image)]["inputs"][None]
        regions = torch.from_numpy(dataset.region_map(int(image)))
        with torch.no_grad():
            pseudo = model(x).argmax(1)
        for region in range(int(regions.max()) + 1):
            probe = copy.deepcopy(model)
            optimizer = torch.optim.SGD(probe.head.parameters(), lr=lr)
            masked = torch.where(regions[None] == region, pseudo, torch.full_like(pseudo, -100))
            for _ in range(steps):
                optimizer.zero_grad()
                F.cross_entropy(probe(x), masked).backward()
                optimizer.step()
            with torch.no_grad():
                change = F.cross_entropy(probe(x_hold), y_hold, reduction="none", ignore_index=255) - before
            rose = change[(change > 0) & (y_hold != 255)]
            scores.append(float(rose.mean()) if len(rose) else 0.0)
    return np.asarray(scores)


@pytest.mark.slow
def test_exact_region_scores_with_the_whole_shortlist_are_brute_force(setup):
    dataset, model, ctx = setup
    candidates = ctx.pool.candidate_ids()[:3]
    scorer = HoldoutLossChange(steps=2, lr=1e-2, precision="exact", shortlist=10_000)
    scores, available = rank_regions(scorer, ctx, candidates, lambda image: np.zeros(0, dtype=np.int64))
    x_hold, y_hold = batch_of(dataset, ctx.pool.holdout_ids)
    expected = brute_force_region_scores(model, dataset, candidates, x_hold, y_hold, steps=2, lr=1e-2)
    assert available.all() and (scores.tier == 1).all()
    np.testing.assert_allclose(scores.scores, expected, rtol=1e-7, atol=1e-15)
    assert (expected > 0).any()


def test_a_short_shortlist_re_scores_only_the_best_available_regions(setup):
    dataset, _, ctx = setup
    candidates = ctx.pool.candidate_ids()[:2]
    approx = score_regions(HoldoutLossChangeApprox(precision="exact"), ctx, candidates)
    def first_image_labelled(image):
        return np.arange(4) if image == candidates[0] else np.zeros(0, dtype=np.int64)
    scorer = HoldoutLossChange(steps=1, lr=1e-2, precision="exact", shortlist=3)
    scores, available = rank_regions(scorer, ctx, candidates, first_image_labelled)
    assert not available[:4].any() and available[4:].all()
    order = approx.order()
    shortlisted = order[available[order]][:3]
    assert sorted(np.flatnonzero(scores.tier == 1).tolist()) == sorted(shortlisted.tolist())
    assert scores.order()[:3].tolist() == sorted(shortlisted, key=lambda p: (-scores.scores[p], p))
    untouched = scores.tier == 0
    np.testing.assert_array_equal(scores.scores[untouched], approx.scores[untouched])


def test_random_region_scores_depend_on_the_step_and_image_not_the_batch(setup):
    _, _, ctx = setup
    candidates = ctx.pool.candidate_ids()
    one = score_regions(Random(), ctx, candidates)
    ctx_big = copy.copy(ctx)
    ctx_big.batch_size = 5
    np.testing.assert_array_equal(score_regions(Random(), ctx_big, candidates).scores, one.scores)
    assert ((one.scores >= 0) & (one.scores < 1)).all()
    ctx_next = copy.copy(ctx)
    ctx_next.seed = 1
    assert not np.array_equal(score_regions(Random(), ctx_next, candidates).scores, one.scores)


def test_labelled_regions_are_not_available(setup):
    _, _, ctx = setup
    candidates = ctx.pool.candidate_ids()[:2]
    scores = score_regions(Entropy(), ctx, candidates)
    available = available_regions(scores, lambda image: np.array([1, 7]) if image == candidates[1] else np.zeros(0, int))
    assert np.flatnonzero(~available).tolist() == [8 + 1, 8 + 7]


def test_class_balance_weights_favour_rare_predicted_classes():
    from segal.selection.class_balance import balanced, class_weights

    weights = class_weights(np.array([99, 9, 0]), power=1.0)
    np.testing.assert_allclose(weights, [1.0, 10.0, 100.0])
    scores = RegionScores(np.array([5]), np.array([4]), np.array([0.5, 0.2, -0.4, -0.1]))
    adjusted = balanced(scores, np.array([0, 1, 2, 0]), weights)
    np.testing.assert_allclose(adjusted.scores, [0.5, 2.0, -0.004, -0.1])
    assert adjusted.order().tolist() == [1, 0, 2, 3], "a rare class moves a region up, whatever its sign"


def test_predicted_region_classes_are_the_majority_prediction(setup):
    from segal.selection.class_balance import predicted_region_classes

    dataset, model, ctx = setup
    candidates = ctx.pool.candidate_ids()[:2]
    scores = score_regions(Entropy(), ctx, candidates)
    found = predicted_region_classes(ctx, scores)
    expected = []
    for image in candidates:
        with torch.no_grad():
            predicted = model(dataset[int(image)]["inputs"][None]).argmax(1)[0].numpy()
        regions = dataset.region_map(int(image))
        expected += [np.bincount(predicted[regions == r], minlength=19).argmax() for r in range(regions.max() + 1)]
    assert found.tolist() == expected

"""Pixel-wise scorers on a real smp model against plain references (float64)."""

import numpy as np
import pytest
import torch

from cityscapes_fixtures import write_random_cityscapes
from scorer_fixtures import reference_approx_scores, reference_loss_changes
from segal.data import ActivePool, Cityscapes, Split
from segal.models import SegmentationModel
from segal.scorers import Entropy, HoldoutLossChange, HoldoutLossChangeApprox, MCDropout, ScoringContext
from segal.scorers.uncertainty import entropy


class Cityscapes64(Cityscapes):
    def load(self, idx, train=False, with_target=True):
        sample = super().load(idx, train, with_target)
        sample["inputs"] = sample["inputs"].double()
        return sample


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cityscapes")
    write_random_cityscapes(root, {"train": 10, "val": 2}, height=32, width=64, seed=1)
    dataset = Cityscapes64(str(root))
    torch.manual_seed(0)
    model = SegmentationModel((3,), 19, dropout=0.2).double().eval()
    splits = np.where(dataset.is_test, Split.TEST, Split.POOL).astype(np.int8)
    splits[[1, 4, 6]] = Split.HOLDOUT
    pool = ActivePool(splits)
    pool.label([0, 2], step=0)
    ctx = ScoringContext(model=model, dataset=dataset, pool=pool, device=torch.device("cpu"), step=0, seed=0,
                         batch_size=3, progress=False)
    return dataset, model, ctx


def batch_of(dataset, ids):
    samples = [dataset[int(i)] for i in ids]
    return torch.stack([s["inputs"] for s in samples]), torch.stack([s["target"] for s in samples])


def reference_rise(model, x_pool, x_hold, y_hold, steps, lr):
    """Section 4.2: the mean loss rise over the holdout pixels whose loss rose."""
    changes, valid = reference_loss_changes(model, x_pool, x_hold, y_hold, steps, lr)
    rises = [c[(c > 0) & valid] for c in changes]
    return np.asarray([float(r.mean()) if len(r) else 0.0 for r in rises])


@pytest.mark.parametrize("chunks", [dict(), dict(chunk_size=1, holdout_batch=1)])
def test_pixelwise_holdout_loss_change_matches_the_reference(setup, chunks):
    dataset, model, ctx = setup
    candidates = ctx.pool.candidate_ids()
    x_pool, _ = batch_of(dataset, candidates)
    x_hold, y_hold = batch_of(dataset, ctx.pool.holdout_ids)
    expected = reference_rise(model, x_pool, x_hold, y_hold, steps=3, lr=1e-2)
    scorer = HoldoutLossChange(steps=3, lr=1e-2, **chunks)
    fast = scorer.score_ids(ctx, candidates)
    np.testing.assert_allclose(fast, expected, rtol=1e-8)
    assert (expected > 0).all(), "with 'rise' only losses that went up count"
    order = candidates[np.argsort(-expected, kind="stable")]
    assert scorer.select(ctx, 3).ids.tolist() == order[:3].tolist()


def test_pixelwise_mean_reduction_averages_every_valid_pixel(setup):
    dataset, model, ctx = setup
    candidates = ctx.pool.candidate_ids()[:2]
    rise = HoldoutLossChange(lr=1e-2).score_ids(ctx, candidates)
    mean = HoldoutLossChange(lr=1e-2, reduction="mean").score_ids(ctx, candidates)
    assert (mean < rise).all()


def test_pixelwise_approx_matches_explicit_gradients(setup):
    dataset, model, ctx = setup
    candidates = ctx.pool.candidate_ids()
    x_pool, _ = batch_of(dataset, candidates)
    x_hold, y_hold = batch_of(dataset, ctx.pool.holdout_ids)
    expected = reference_approx_scores(model, x_pool, x_hold, y_hold)
    for scorer in (HoldoutLossChangeApprox(), HoldoutLossChangeApprox(holdout_batch=2)):
        np.testing.assert_allclose(scorer.score_ids(ctx, candidates), expected, rtol=1e-8)


def test_pixelwise_uncertainty_is_the_image_mean(setup):
    dataset, model, ctx = setup
    candidates = ctx.pool.candidate_ids()
    x_pool, _ = batch_of(dataset, candidates)
    with torch.no_grad():
        expected = entropy(model(x_pool)).mean(dim=(1, 2)).numpy()
    np.testing.assert_allclose(Entropy().score_ids(ctx, candidates), expected, rtol=1e-12)
    # MC-Dropout: the same passes by hand, image by image, with each dropout layer (the head's and
    # ASPP's) swapped for a multiplication by the pass's mask; batch norm frozen
    scorer = MCDropout(num_passes=4)
    fast = scorer.score_ids(ctx, candidates)
    parents = {child: (parent, name) for parent in model.modules() for name, child in parent.named_children()}
    assert len(scorer.masks.layers) >= 2
    scores = []
    with torch.no_grad():
        for image in x_pool:
            probs = []
            for t in range(4):
                for i, layer in enumerate(scorer.masks.layers):
                    parent, name = parents[layer]
                    setattr(parent, name, MaskedBy(lambda shape, i=i, t=t: scorer.masks.mask(
                        i, t, shape, torch.float64, torch.device("cpu"))))
                probs.append(torch.softmax(model(image[None]), 1))
                for layer in scorer.masks.layers:
                    setattr(*parents[layer], layer)
            mean_probs = torch.cat(probs).mean(0)
            scores.append(float(-(mean_probs * mean_probs.log()).sum(0).mean()))
    np.testing.assert_allclose(fast, scores, rtol=1e-10)


class MaskedBy(torch.nn.Module):
    def __init__(self, mask_for_shape):
        super().__init__()
        self.mask_for_shape = mask_for_shape

    def forward(self, x):
        return x * self.mask_for_shape(x.shape[1:])

"""Pixel-wise scorers on a real smp model against plain references (float64)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.cityscapes import write_random_cityscapes
from helpers.scorers import Cityscapes64, batch_of, city_pool, reference_approx_scores, reference_loss_changes

from segal.models import SegmentationModel
from segal.scorers import Entropy, HoldoutLossChange, HoldoutLossChangeApprox, MCDropout, ScoringContext
from segal.scorers.head_probe import HeadProbe
from segal.scorers.holdout_pixels import HoldoutRowBands, split_upsampler
from segal.scorers.uncertainty import entropy


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cityscapes")
    write_random_cityscapes(root, {"train": 10, "val": 2}, height=32, width=64, seed=1)
    dataset = Cityscapes64(str(root))
    torch.manual_seed(0)
    model = SegmentationModel((3,), 19, dropout=0.2).double().eval()
    pool = city_pool(dataset, holdout=[1, 4, 6], labelled=[0, 2])
    ctx = ScoringContext(model=model, dataset=dataset, pool=pool, device=torch.device("cpu"), step=0, seed=0,
                         batch_size=3, progress=False)
    return dataset, model, ctx


def reference_rise(model, x_pool, x_hold, y_hold, steps, lr):
    """Section 4.2: the mean loss rise over the holdout pixels whose loss rose."""
    changes, valid = reference_loss_changes(model, x_pool, x_hold, y_hold, steps, lr)
    rises = [c[(c > 0) & valid] for c in changes]
    return np.asarray([float(r.mean()) if len(r) else 0.0 for r in rises])


@pytest.mark.slow
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


def test_heads_without_delta_rules_fall_back_to_subtracting_losses(setup, monkeypatch):
    from segal.scorers import holdout
    from segal.scorers.head_delta import UnsupportedHead

    def no_chain(head):
        raise UnsupportedHead("head.9 (GroupNorm) has no delta rule")

    dataset, model, ctx = setup
    candidates = ctx.pool.candidate_ids()[:3]
    x_pool, _ = batch_of(dataset, candidates)
    x_hold, y_hold = batch_of(dataset, ctx.pool.holdout_ids)
    monkeypatch.setattr(holdout, "DeltaChain", no_chain)
    with pytest.warns(UserWarning, match="GroupNorm"):
        fast = HoldoutLossChange(steps=3, lr=1e-2, chunk_size=2).score_ids(ctx, candidates)
    np.testing.assert_allclose(fast, reference_rise(model, x_pool, x_hold, y_hold, steps=3, lr=1e-2), rtol=1e-8)


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
    encoder_runs = []
    hook = model.trunk.encoder.conv1.register_forward_hook(lambda *_: encoder_runs.append(1))
    fast = scorer.score_ids(ctx, candidates)
    hook.remove()
    assert len(encoder_runs) == -(-len(candidates) // ctx.batch_size), "the encoder runs once per batch, not per pass"
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


@pytest.mark.parametrize("reduction", ["rise", "mean"])
def test_holdout_pixels_over_every_row_is_exact_mode(setup, reduction):
    _, _, ctx = setup
    candidates = ctx.pool.candidate_ids()
    exact = HoldoutLossChange(steps=2, lr=0.05, reduction=reduction).score_ids(ctx, candidates)
    rows = HoldoutLossChange(steps=2, lr=0.05, reduction=reduction, holdout_pixels=1.0, holdout_batch=2)
    np.testing.assert_allclose(rows.score_ids(ctx, candidates), exact, rtol=1e-9, atol=1e-14)
    assert len(rows.bands.rows) == 3 * 7, "every pair of the 8 feature rows, for each of the 3 holdout images"


@pytest.mark.parametrize("arch", ["DeepLabV3Plus", "Unet", "FPN"])
def test_holdout_row_bands_give_the_full_heads_losses_at_their_pixels(arch):
    torch.manual_seed(0)
    model = SegmentationModel((3,), 5, arch=arch, dropout=0.1).double().eval()
    x = torch.randn(2, 3, 64, 96, dtype=torch.float64)
    targets = torch.randint(0, 5, (2, 64, 96))
    targets[0, :5] = 255
    with torch.no_grad():
        features = model.trunk(x)
        full = F.cross_entropy(model.head(features), targets, reduction="none", ignore_index=255)  # [2, H, W]
    probe = HeadProbe(model.head, 255)
    bands = HoldoutRowBands(model.head, probe.buffers, features, targets, 0.3, np.random.default_rng(0), 255)
    with torch.no_grad():
        everything = bands.band_slice(slice(0, 2))
        logits = bands.interpolate(bands.body(bands.bands[everything]), everything)  # [S, C, R, W]
        losses = F.cross_entropy(logits, bands.targets[everything], reduction="none", ignore_index=255)
    k = bands.pairs_per_image
    assert k == math.ceil(0.3 * (features.shape[2] - 1))
    seen = set()
    for band, rows in enumerate(bands.rows):
        for r, row in enumerate(rows.tolist()):
            if row >= 0:
                torch.testing.assert_close(losses[band, r], full[band // k, row], rtol=1e-10, atol=1e-12)
                seen.add((band // k, row))
    assert len(seen) == int((bands.rows >= 0).sum()), "no pixel row is counted twice"
    assert 0.2 < len(seen) / (2 * 64) < 0.45


def test_holdout_pixels_refuses_non_local_heads_and_classification(setup):
    head = torch.nn.Sequential(torch.nn.Conv2d(4, 3, 3, padding=1), torch.nn.AdaptiveAvgPool2d(1))
    with pytest.raises(ValueError, match="head.1 .AdaptiveAvgPool2d"):
        split_upsampler(head)
    with pytest.raises(ValueError, match="stride-1"):
        split_upsampler(torch.nn.Sequential(torch.nn.Conv2d(4, 3, 3, stride=2, padding=1)))
    with pytest.raises(ValueError, match="holdout_pixels"):
        HoldoutLossChange(holdout_pixels=0.0)


@pytest.mark.parametrize("arch", ["FPN", "Unet"])
def test_replicated_passes_match_hooked_passes(setup, arch, monkeypatch):
    """Heads that start with their dropout run the T passes as one batch; the numbers are the hooked passes'."""
    from segal.scorers import BALD, uncertainty

    dataset, _, ctx = setup
    torch.manual_seed(0)
    model = SegmentationModel((3,), 19, arch=arch, dropout=0.3).double().eval()
    head_ctx = ScoringContext(model=model, dataset=dataset, pool=ctx.pool, device=torch.device("cpu"), step=0,
                              seed=0, batch_size=3, progress=False)
    candidates = ctx.pool.candidate_ids()
    assert uncertainty.leading_dropout(model.head)
    batched = {g: BALD(num_passes=5, passes_per_batch=g).score_ids(head_ctx, candidates) for g in (None, 2)}
    monkeypatch.setattr(uncertainty, "leading_dropout", lambda rest: False)
    hooked = BALD(num_passes=5).score_ids(head_ctx, candidates)
    for scores in batched.values():
        np.testing.assert_allclose(scores, hooked, rtol=1e-10)

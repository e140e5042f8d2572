"""Does the paper's criterion find wrong regions? A planted case: one region predicted wrongly in a way that hurts
the holdout, one predicted rightly, of equal size, with a head whose trunk features are chosen by hand.

Features are one-hot appearances: ``A`` (true class 0, predicted 1 with confidence set by ``wrong``), ``B`` (true 0,
predicted 0 with confidence set by ``right``) and ``C`` (true 1, predicted 1). The holdout holds all three. Training
on region A's prediction pushes A further towards class 1 and raises the holdout loss on the holdout's A pixels;
training on region B's (right) prediction lowers the loss on the holdout's B pixels.
"""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from segal.data import ActivePool, Split
from segal.models.probe import ProbedModel
from segal.scorers import HoldoutLossChange, HoldoutLossChangeApprox, ScoringContext
from segal.scorers.regions import rank_regions

APPEARANCES = {"A": (0, 0), "B": (1, 0), "C": (2, 1)}  # kind -> (feature channel, true class)
NOTHING_LABELLED = lambda image: np.zeros(0, dtype=np.int64)  # noqa: E731


class PlantedImages(torch.utils.data.Dataset):
    """Images of vertical stripes of one appearance each; a stripe is a region."""

    task, num_classes, ignore_index, classes = "segmentation", 2, 255, ("background", "object")

    def __init__(self, layouts, height=8, width=12):
        self.samples = [self._image(layout, height, width) for layout in layouts]
        self.is_test = np.zeros(len(layouts), dtype=bool)

    @staticmethod
    def _image(layout, height, width):
        """``layout``: the stripes' kinds and widths, e.g. ``(('A', 6), ('B', 6))``."""
        inputs = torch.zeros(3, height, width, dtype=torch.float64)
        target = torch.zeros(height, width, dtype=torch.int64)
        regions = np.zeros((height, width), dtype=np.int64)
        start = 0
        for region, (kind, stripe) in enumerate(layout):
            channel, label = APPEARANCES[kind]
            inputs[channel, :, start:start + stripe] = 1.0
            target[:, start:start + stripe] = label
            regions[:, start:start + stripe] = region
            start += stripe
        return inputs, target, regions

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        inputs, target, _ = self.samples[i]
        return {"inputs": inputs, "target": target, "id": i}

    def region_map(self, i):
        return self.samples[i][2]


class PlantedModel(ProbedModel):
    """Identity trunk; the head is two 1x1 convs (the last two conv layers, as segal probes them)."""

    def __init__(self, wrong: float, right: float):
        super().__init__()
        self.trunk = nn.Identity()
        self.head = nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU(), nn.Conv2d(3, 2, 1))
        weights = torch.zeros(2, 3)
        weights[1, 0] = wrong  # A -> class 1: wrong
        weights[0, 1] = right  # B -> class 0: right
        weights[1, 2] = 3.0  # C -> class 1: right
        with torch.no_grad():
            self.head[0].weight.copy_(torch.eye(3)[:, :, None, None])
            self.head[0].bias.zero_()
            self.head[2].weight.copy_(weights[:, :, None, None])
            self.head[2].bias.zero_()


def planted(wrong: float, right: float, pool_layout=(("A", 6), ("B", 6))):
    """``(context, model, dataset)``: image 0 is the pool image, images 1-2 the holdout."""
    dataset = PlantedImages([pool_layout, (("A", 4), ("B", 4), ("C", 4)), (("C", 4), ("A", 4), ("B", 4))])
    model = PlantedModel(wrong, right).double().eval()
    splits = np.full(len(dataset), Split.HOLDOUT, dtype=np.int8)
    splits[0] = Split.POOL
    ctx = ScoringContext(model=model, dataset=dataset, pool=ActivePool(splits), device=torch.device("cpu"), step=0,
                         seed=0, batch_size=4, progress=False)
    return ctx, model, dataset


def region_scores(scorer, ctx) -> np.ndarray:
    scores, _ = rank_regions(scorer, ctx, [0], NOTHING_LABELLED)
    return scores.scores


def ours(reduction: str) -> HoldoutLossChange:
    return HoldoutLossChange(steps=3, lr=0.1, reduction=reduction, precision="exact", shortlist=10)


def brute_force(model, dataset, region: int, reduction: str, steps=3, lr=0.1) -> float:
    """Eq. 3 for one region, by torch.optim.SGD on a copy of the head: the region's pixels with their predicted
    labels, then the holdout loss change (mean over every holdout pixel, or over those whose loss rose)."""
    x_hold = torch.stack([dataset[i]["inputs"] for i in (1, 2)])
    y_hold = torch.stack([dataset[i]["target"] for i in (1, 2)])
    x = dataset[0]["inputs"][None]
    probe = copy.deepcopy(model)
    with torch.no_grad():
        before = F.cross_entropy(probe(x_hold), y_hold, reduction="none")
        inside = torch.from_numpy(dataset.region_map(0))[None] == region
        target = torch.where(inside, probe(x).argmax(1), torch.full_like(inside, -100, dtype=torch.int64))
    optimizer = torch.optim.SGD(probe.head.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(probe(x), target).backward()
        optimizer.step()
    with torch.no_grad():
        change = F.cross_entropy(probe(x_hold), y_hold, reduction="none") - before
    return float(change.mean()) if reduction == "mean" else float(change[change > 0].mean())


def test_the_planted_model_predicts_as_planted():
    ctx, model, dataset = planted(wrong=4.0, right=0.3)
    predicted = model(dataset[0]["inputs"][None]).argmax(1)[0]
    assert (predicted[:, :6] == 1).all() and (predicted[:, 6:] == 0).all(), "region 0 wrong, region 1 right"


@pytest.mark.parametrize("reduction", ["mean", "rise"])
def test_the_planted_scores_are_eq_3_by_brute_force(reduction):
    """The implementation is faithful: region scores are eq. 3 for the region's own pixels and predictions."""
    ctx, model, dataset = planted(wrong=4.0, right=0.3)
    expected = [brute_force(model, dataset, region, reduction) for region in (0, 1)]
    np.testing.assert_allclose(region_scores(ours(reduction), ctx), expected, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("wrong, right", [(1.0, 1.0), (4.0, 0.3), (0.3, 4.0), (8.0, 0.2), (10.0, 2.0)])
def test_the_criterion_over_every_holdout_pixel_ranks_the_wrong_region_first(wrong, right):
    """Ours with ``reduction='mean'`` (eq. 3 as the paper defines it for a sample) and Ours-app (its first-order
    form) rank the wrong region first however confident either prediction is; the right region's update lowers the
    holdout loss (a negative score)."""
    ctx, _, _ = planted(wrong, right)
    for scorer in (ours("mean"), HoldoutLossChangeApprox(precision="exact")):
        wrong_score, right_score = region_scores(scorer, ctx)
        assert wrong_score > 0 > right_score, type(scorer).__name__


def test_averaging_only_the_rising_holdout_pixels_loses_a_confident_mistake():
    """The segmentation variant (``reduction='rise'``) ranks the wrong region first while its prediction is
    unsure, and the right one first once the mistake is confident: training on a confident prediction barely moves
    the head, so its rise is small, while the right region's update, which lowers the holdout loss overall, still
    raises a few pixels a little, and the mean over those few ignores the larger fall everywhere else."""
    ctx, _, _ = planted(wrong=4.0, right=0.3)
    unsure = region_scores(ours("rise"), ctx)
    ctx, _, _ = planted(wrong=10.0, right=0.2)
    confident = region_scores(ours("rise"), ctx)
    net = region_scores(ours("mean"), ctx)
    assert unsure[0] > unsure[1] > 0
    assert 0 < confident[0] < confident[1], "the rise-only mean prefers the right region"
    assert net[1] < 0 < net[0], "over every holdout pixel the right region's update helps"


def test_a_region_score_does_not_grow_with_the_region():
    """A region's score is per pixel (its loss is the mean over its pixels): a stripe of A twice as wide scores the
    same, for Ours-app and exact Ours, so large regions are not favoured by their area."""
    for scorer in (HoldoutLossChangeApprox(precision="exact"), ours("mean"), ours("rise")):
        narrow = region_scores(scorer, planted(4.0, 0.3, (("A", 3), ("B", 9)))[0])
        wide = region_scores(scorer, planted(4.0, 0.3, (("A", 6), ("B", 6)))[0])
        assert narrow[0] == pytest.approx(wide[0], rel=1e-9), type(scorer).__name__

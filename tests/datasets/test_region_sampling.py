"""Cheaper region steps: partial labels kept once per stage, and epochs drawn by labelled pixels
(loop.region_sampling='pixels')."""
import numpy as np
import pytest
import torch
from helpers.region_runs import CONFIG, grid_city, labelled_regions, options

from segal.apis import run_experiment
from segal.config import load_config
from segal.data.loading import EpochShuffle, LabelledPixelShuffle, make_train_loader
from segal.data.partial_labels import IGNORE, WithRegionLabels, partial_label
from segal.data.region_mosaics import RegionMosaics, region_training_set
from segal.engine.records import headline_metric
from segal.errors import SegalError

PICKS = {0: [0, 9, 31], 2: [5], 3: [12, 13, 20, 21], 5: [7, 24]}  # Grid of 4 x 8 cells of 16 px


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    return grid_city(tmp_path_factory.mktemp("sampling_city"))


@pytest.mark.parametrize("mode", ["dominant", "exact"])
def test_a_partly_labelled_image_loads_without_rereading_its_label_or_region_map(city, mode, monkeypatch):
    view = WithRegionLabels(city, labelled_regions(city, PICKS), mode)
    expected = {i: partial_label(city.read(i)[1], city.region_map(i), np.array(r), mode) for i, r in PICKS.items()}

    def refuse(*_):
        raise AssertionError("read a label or a region map after the view was made")
    monkeypatch.setattr(city, "read", refuse)
    monkeypatch.setattr(city, "region_map", refuse)
    for image, answer in expected.items():
        np.testing.assert_array_equal(view.load(image)["target"].numpy(), answer)


def test_labelled_shares_count_the_pixels_that_train(city):
    regions = labelled_regions(city, PICKS)
    view = WithRegionLabels(city, regions, "exact")
    answers = {i: partial_label(city.read(i)[1], city.region_map(i), np.array(r), "exact") for i, r in PICKS.items()}
    labelled = {i: int((answer != IGNORE).sum()) for i, answer in answers.items()}
    assert 0 < labelled[2] <= 256 and 256 < labelled[0] <= 3 * 256, "cells of 16 x 16, less their void pixels"
    np.testing.assert_allclose(view.labelled_share([0, 2, 1]), [labelled[0] / 8192, labelled[2] / 8192, 1.0])
    mosaics = RegionMosaics(city, regions, "exact", tiles_per_side=2)
    canvases = mosaics.canvas_ids
    counted = [(mosaics.canvas(k)[1] != IGNORE).sum() / 8192 for k in range(len(canvases))]
    np.testing.assert_allclose(mosaics.labelled_share(canvases), counted)
    assert sum(counted) == pytest.approx(sum(labelled.values()) / 8192), "every labelled pixel, once"
    _, ids, shares = region_training_set(city, regions, "exact", np.array([1, 0, 2, 3, 5]), sampling="pixels")
    np.testing.assert_allclose(shares, view.labelled_share(ids))
    assert region_training_set(city, regions, "exact", np.array([1, 0]))[2] is None


def test_an_epoch_trains_every_whole_sample_and_as_many_partial_ones_as_their_pixels_fill():
    shares = [1.0, 1.0, 0.3, 0.3, 0.3, 0.05, 0.05, 0.6, 1.0]  # partial shares sum to 1.6: two are drawn
    sampler = LabelledPixelShuffle(shares, seed=3)
    for epoch in range(20):
        sampler.set_epoch(epoch)
        drawn = [position for position, _ in sampler]
        assert len(drawn) == len(sampler) == 5 and len(set(drawn)) == 5
        assert {0, 1, 8} <= set(drawn)
    sampler.set_epoch(4)
    assert list(sampler) == list(sampler), "an epoch's draw and order depend only on the seed and the epoch"


def test_a_single_draw_picks_each_partial_sample_in_proportion_to_its_labelled_pixels():
    shares = np.array([0.1, 0.2, 0.3, 0.05])  # sum 0.65: one is drawn an epoch
    sampler, counts = LabelledPixelShuffle(shares, seed=0), np.zeros(4)
    epochs = 8000
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        counts[[position for position, _ in sampler]] += 1
    expected = shares / shares.sum() * epochs
    assert ((counts - expected) ** 2 / expected).sum() < 16.3, "chi-square, 3 degrees of freedom, p = 0.001"


def test_ranks_split_the_same_draw_and_default_epochs_are_unchanged():
    shares = [1.0, 0.5, 0.4, 0.4, 0.2, 0.9, 1.0]
    whole = LabelledPixelShuffle(shares, seed=1)
    ranks = [LabelledPixelShuffle(shares, seed=1, rank=r, world=2) for r in (0, 1)]
    for sampler in [whole, *ranks]:
        sampler.set_epoch(2)
    order = [p for p, _ in whole]
    assert [p for p, _ in ranks[0]] + [p for p, _ in ranks[1]] == order[0::2] + (order * 2)[1:len(order) + 1:2]
    plain = EpochShuffle(7, seed=1)
    plain.set_epoch(2)
    assert [p for p, _ in plain] == torch.randperm(7, generator=torch.Generator().manual_seed(3)).tolist()


def test_a_stage_with_labelled_shares_runs_fewer_batches(city):
    view = WithRegionLabels(city, labelled_regions(city, PICKS), "exact")
    ids = np.array([1, 4, 0, 2, 3, 5])
    every = make_train_loader(view, ids, batch_size=3, seed=0)
    drawn = make_train_loader(view, ids, batch_size=3, seed=0, labelled_shares=view.labelled_share(ids))
    assert (len(every), len(drawn)) == (2, 1), "6 samples; the 2 whole images and 1 of the 4 partial ones"
    batch = next(iter(drawn))["id"].tolist()
    assert {1, 4} < set(batch) and len(set(batch) & set(PICKS)) == 1


SMALL = {"dataset.num_train": 24, "dataset.num_val": 4}


@pytest.mark.slow
def test_a_region_run_with_pixel_sampling_trains_and_resumes_to_the_same_records(tmp_path):
    cfg = options(tmp_path / "data", **SMALL, **{"loop.region_sampling": "pixels"})
    records = run_experiment(load_config(CONFIG, cfg), tmp_path / "straight")
    plain = run_experiment(load_config(CONFIG, {**cfg, "loop.region_sampling": None}), tmp_path / "plain")
    assert len(records) == 3 and records[0] == plain[0], "step 0 trains on whole images only: the same"
    metric = headline_metric(records[1])
    assert records[1][metric] != plain[1][metric], "step 1 trains on fewer passes"
    stopped = run_experiment(load_config(CONFIG, {**cfg, "protocol.num_steps": 1}), tmp_path / "resumed")
    resumed = run_experiment(load_config(CONFIG, cfg), tmp_path / "resumed", resume=True)
    assert len(stopped) == 2 and resumed == records


@pytest.mark.parametrize("extra, named", [
    ({"loop.region_sampling": "images"}, "loop.region_sampling must be one of"),
    ({"loop.region_sampling": "pixels", "dataset.regions": None, "protocol.budget": None, "protocol.step_size": 4},
     "loop.region_sampling needs dataset.regions"),
])
def test_region_sampling_is_refused_where_it_cannot_apply(tmp_path, extra, named):
    with pytest.raises(SegalError, match=named):
        run_experiment(load_config(CONFIG, options(tmp_path / "data", **SMALL, **extra)), tmp_path / "run")

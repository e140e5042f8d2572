"""Region mosaics (loop.region_mosaic): partly labelled images train as tiles packed into full-size canvases."""
import numpy as np
import pytest
from helpers.region_runs import CONFIG, grid_city, labelled_regions, options

from segal.apis import run_experiment
from segal.config import load_config
from segal.data.partial_labels import IGNORE, partial_label
from segal.data.region_mosaics import RegionMosaics, covering_tiles, region_training_set, tile_window
from segal.errors import SegalError


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    return grid_city(tmp_path_factory.mktemp("mosaic_city"))


PICKS = {0: [0, 9, 31], 2: [5], 3: [12, 13, 20, 21], 5: [7, 24], 7: [30]}  # Grid of 4 x 8 cells of 16 px


@pytest.mark.parametrize("mode", ["dominant", "exact"])
def test_every_labelled_pixel_lies_in_exactly_one_tile_with_its_answer(city, mode):
    mosaics = RegionMosaics(city, labelled_regions(city, PICKS), mode, tiles_per_side=2)
    answers = [partial_label(city.read(i)[1], city.region_map(i), np.array(r), mode) for i, r in PICKS.items()]
    expected = np.bincount(np.concatenate([a[a != IGNORE] for a in answers]), minlength=256)
    canvases = [mosaics.canvas(k) for k in range(len(mosaics.canvases))]
    found = np.bincount(np.concatenate([label[label != IGNORE] for _, label in canvases]), minlength=256)
    np.testing.assert_array_equal(found, expected)
    assert all(image.shape == (64, 128, 3) and label.shape == (64, 128) for image, label in canvases)
    assert len(mosaics.canvases) < len(PICKS), "fewer passes than training the partly labelled images whole"


def test_a_tile_carries_its_image_s_pixels_where_it_carries_labels(city):
    mosaics = RegionMosaics(city, labelled_regions(city, {3: [12]}), "exact", tiles_per_side=2)
    image, label = mosaics.canvas(0)
    source, truth = city.read(3)
    (top, left), = covering_tiles(partial_label(truth, city.region_map(3), np.array([12]), "exact") != IGNORE,
                                  mosaics.tile_shape)
    rows, cols, owned = tile_window((top, left), mosaics.tile_shape, truth.shape)
    np.testing.assert_array_equal(image[:32, :64], source[rows, cols])
    assert (label[:32, :64][owned] != IGNORE).sum() == 16 * 16 and (label[32:] == IGNORE).all()


def test_a_cell_past_the_edge_is_cut_inside_the_image_and_owns_only_its_pixels():
    mask = np.zeros((8, 8), dtype=bool)
    mask[1, 1] = mask[6, 6] = True
    assert covering_tiles(mask, (4, 4)) == [(1, 1), (5, 5)], "cells (1, 5) and (5, 1) hold no labelled pixel"
    rows, cols, owned = tile_window((5, 5), (4, 4), (8, 8))
    assert (rows, cols) == (slice(4, 8), slice(4, 8))
    assert owned.sum() == 9 and not owned[0].any() and not owned[:, 0].any(), "row and column 4 belong to (1, 1)"


def test_the_training_set_swaps_the_partly_labelled_images_for_canvases(city):
    regions = labelled_regions(city, PICKS)
    labelled = np.array([1, 4, 0, 2, 3, 5, 7])  # two whole images and the partly labelled ones
    whole, ids, _ = region_training_set(city, regions, "dominant", labelled)
    assert not isinstance(whole, RegionMosaics) and ids is labelled
    mosaics, ids, _ = region_training_set(city, regions, "dominant", labelled, tiles_per_side=2)
    assert sorted(ids.tolist()) == [1, 4] + list(range(len(city), len(city) + len(mosaics.canvases)))
    sample = mosaics.load(len(city), train=False)
    assert tuple(sample["inputs"].shape) == (3, 64, 128) and sample["id"] == len(city)


SMALL = {"dataset.num_train": 24, "dataset.num_val": 4}


@pytest.mark.slow
def test_a_region_run_trains_on_mosaics_and_resumes_to_the_same_records(tmp_path):
    cfg = options(tmp_path / "data", **SMALL, **{"loop.region_mosaic": 2})
    records = run_experiment(load_config(CONFIG, cfg), tmp_path / "straight")
    assert len(records) == 3 and records[-1]["labelled_regions"] - records[0]["labelled_regions"] == 24
    stopped = run_experiment(load_config(CONFIG, {**cfg, "protocol.num_steps": 1}), tmp_path / "resumed")
    resumed = run_experiment(load_config(CONFIG, cfg), tmp_path / "resumed", resume=True)
    assert len(stopped) == 2 and resumed == records


@pytest.mark.parametrize("extra, named", [
    ({"loop.region_mosaic": 1}, "loop.region_mosaic must be None or an integer >= 2"),
    ({"loop.region_mosaic": 2, "dataset.regions": None, "protocol.budget": None, "protocol.step_size": 4},
     "loop.region_mosaic needs dataset.regions"),
])
def test_region_mosaics_are_refused_where_they_cannot_apply(tmp_path, extra, named):
    with pytest.raises(SegalError, match=named):
        run_experiment(load_config(CONFIG, options(tmp_path / "data", **SMALL, **extra)), tmp_path / "run")

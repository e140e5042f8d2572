"""Regions, their cache, the region oracle, region labels and budgets."""
import io
import json
import logging
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.cityscapes import write_random_cityscapes
from hypothesis import given, settings
from hypothesis import strategies as st

from segal.data import ActivePool, Cityscapes, Split
from segal.data.costs import Budget, contour_clicks, polygon_file_clicks
from segal.data.partial_labels import WithRegionLabels, dominant_labels, partial_label
from segal.data.pool import PoolError
from segal.data.region_pool import RegionLabels
from segal.data.regions import RegionSpec
from segal.errors import InvalidValue
from segal.scorers.ranking import fill_budget
from segal.scorers.regions import RegionScores, choose_regions


@pytest.fixture()
def city(tmp_path):
    write_random_cityscapes(tmp_path, {"train": 4, "val": 1}, height=32, width=48, seed=0)
    return tmp_path


def test_grid_cells_are_squares_in_row_major_order():
    regions = RegionSpec("Grid", size=4).compute(np.zeros((6, 10, 3), np.uint8))
    assert regions.shape == (6, 10)
    assert regions[0].tolist() == [0] * 4 + [1] * 4 + [2] * 2
    assert regions[5].tolist() == [3] * 4 + [4] * 4 + [5] * 2
    assert np.bincount(regions.ravel()).tolist() == [16, 16, 8, 8, 8, 4]


def test_slic_maps_cover_the_image_with_ids_0_to_r_minus_1():
    rng = np.random.default_rng(0)
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, 30:] = 200
    image += rng.integers(0, 10, image.shape, dtype=np.uint8)
    regions = RegionSpec("SLIC", n_segments=12, compactness=10).compute(image)
    assert regions.shape == (40, 60) and regions.min() == 0
    assert np.bincount(regions.ravel()).all() and 6 <= regions.max() + 1 <= 24
    assert len(np.intersect1d(regions[:, :28], regions[:, 32:])) == 0, "superpixels follow the colour edge"


def test_region_maps_are_cached_once_and_a_changed_setting_is_a_new_cache(city, monkeypatch):
    calls = []
    original = RegionSpec.compute
    monkeypatch.setattr(RegionSpec, "compute", lambda self, image: calls.append(self) or original(self, image))
    dataset = Cityscapes(str(city), regions=dict(type="SLIC", n_segments=10, compactness=5))
    first = dataset.region_map(2)
    assert first.shape == (32, 48) and len(calls) == 1 and dataset.regions.cache_path(2).is_file()
    again = Cityscapes(str(city), regions=dict(type="SLIC", n_segments=10, compactness=5))
    np.testing.assert_array_equal(again.region_map(2), first)
    assert len(calls) == 1, "a hit reads the cache"
    changed = Cityscapes(str(city), regions=dict(type="SLIC", n_segments=20, compactness=5))
    changed.region_map(2)
    assert len(calls) == 2 and changed.regions.folder != dataset.regions.folder
    assert json.loads((changed.regions.folder / "settings.json").read_text())["n_segments"] == 20


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other_map"])
def test_a_corrupt_cache_file_is_named_discarded_and_computed_again(city, caplog, damage):
    dataset = Cityscapes(str(city), regions=dict(type="Grid", size=8))
    expected = dataset.region_map(1)
    path = dataset.regions.cache_path(1)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:40])
    elif damage == "garbage":
        path.write_bytes(b"not a cache file")
    else:  # a valid file of another image size: its shape does not match
        path.write_bytes(dataset.regions.cache_path(1).read_bytes())
        from segal.data.regions import encode
        path.write_bytes(encode(np.zeros((5, 5), np.int64), "0" * 64))
    with caplog.at_level(logging.WARNING, logger="segal"):
        np.testing.assert_array_equal(dataset.region_map(1), expected)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(path) in warnings[0] and "\n" not in warnings[0]
    assert path.is_file(), "the map is cached again"


def _declaring_a_huge_map(path):
    """A 300-byte cache file whose map declares 100000 x 100000 uint32 (40 GB) and holds nothing."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<u4", "fortran_order": False, "shape": (100000, 100000)})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("regions.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:])
        for name in ("digest.npy", "image.npy"):
            member = io.BytesIO()
            np.save(member, np.array("0" * 64))
            archive.writestr(name, member.getvalue())


def test_a_cache_file_declaring_a_huge_map_is_discarded_unread(city, caplog):
    dataset = Cityscapes(str(city), regions=dict(type="Grid", size=8))
    expected = dataset.region_map(1)
    path = dataset.regions.cache_path(1)
    _declaring_a_huge_map(path)
    assert path.stat().st_size < 2000
    with caplog.at_level(logging.WARNING, logger="segal"):
        np.testing.assert_array_equal(dataset.region_map(1), expected)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert str(path) in warning and "declared uint32 (100000, 100000)" in warning
    np.testing.assert_array_equal(dataset.region_map(1), expected)  # cached again, and read without a warning


def test_an_image_replaced_by_another_of_the_same_name_and_size_gets_its_own_regions(city, tmp_path, caplog):
    root = Path(shutil.copytree(city, tmp_path / "city"))
    spec = dict(type="SLIC", n_segments=12, compactness=10)
    dataset = Cityscapes(str(root), regions=spec)
    old = dataset.region_map(0)
    image = Path(dataset.image_path(0))
    height, width = cv2.imread(str(image)).shape[:2]
    rows, cols = np.mgrid[:height, :width]
    other = np.where((rows * width < cols * height)[..., None], 255, 0).astype(np.uint8).repeat(3, 2)
    cv2.imwrite(str(image), other)  # another scene (a bright triangle), same name and size
    fresh = Cityscapes(str(tmp_path / "city"), regions={**spec, "cache_dir": str(tmp_path / "fresh_cache")})
    with caplog.at_level(logging.WARNING, logger="segal"):
        replaced = Cityscapes(str(root), regions=spec).region_map(0)
    np.testing.assert_array_equal(replaced, fresh.region_map(0))
    assert not np.array_equal(replaced, old), "the old image's cached map is not used"
    assert any("another image of the same name" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("bad, key", [(dict(type="Superpixel"), "dataset.regions"),
                                      (dict(type="Grid", size=0), "dataset.regions.size"),
                                      (dict(type="Grid", n_segments=4), "dataset.regions.n_segments"),
                                      (dict(type="SLIC", compactness=-1), "compactness")])
def test_bad_region_settings_name_the_key(city, bad, key):
    with pytest.raises(InvalidValue, match=key.replace(".", r"\.")):
        Cityscapes(str(city), regions=bad)


def test_the_dominant_label_oracle_by_hand():
    label = np.array([[7, 7, 255, 255],
                      [7, 8, 255, 255],
                      [8, 8, 8, 255],
                      [1, 1, 2, 2]], np.uint8)
    regions = np.array([[0, 0, 1, 1],
                        [0, 0, 1, 1],
                        [2, 2, 2, 1],
                        [3, 3, 3, 3]])
    assert dominant_labels(label, regions).tolist() == [7, 255, 8, 1]  # region 3: a tie goes to the lower id
    answer = partial_label(label, regions, np.array([0, 1, 3]), "dominant")
    assert answer.tolist() == [[7, 7, 255, 255],
                               [7, 7, 255, 255],
                               [255, 255, 255, 255],
                               [1, 1, 1, 1]], "region 1 (void majority) adds no label; region 2 is not labelled"
    exact = partial_label(label, regions, np.array([2, 3]), "exact")
    assert exact.tolist() == [[255] * 4, [255] * 4, [8, 8, 8, 255], [1, 1, 2, 2]]


def test_training_targets_carry_labels_only_in_labelled_regions(city):
    dataset = Cityscapes(str(city), regions=dict(type="Grid", size=16))
    pool = ActivePool(np.where(dataset.is_test, Split.TEST, Split.POOL))
    pool.label([0], step=0)
    labels = RegionLabels(pool)
    labels.label(2, [1, 4], step=1)
    wrapped = WithRegionLabels(dataset, labels, "exact")
    full = dataset.load(2)["target"].numpy()
    target = wrapped.load(2)["target"].numpy()
    regions = dataset.region_map(2)
    inside = np.isin(regions, [1, 4])
    np.testing.assert_array_equal(target[inside], full[inside])
    assert (target[~inside] == 255).all()
    np.testing.assert_array_equal(wrapped.load(0)["target"].numpy(), dataset.load(0)["target"].numpy())
    assert wrapped.classes == dataset.classes


def test_region_labels_refuse_what_breaks_an_invariant():
    pool = ActivePool([Split.POOL, Split.POOL, Split.HOLDOUT, Split.TEST])
    pool.label([0], step=0)
    labels = RegionLabels(pool)
    labels.label(1, [3, 5], step=1)
    for image, regions, step, match in [(0, [1], 1, "not an unlabelled pool image"), (2, [1], 1, "not an unlabelled"),
                                        (3, [1], 1, "not an unlabelled"), (1, [5], 2, "already labelled"),
                                        (1, [6, 6], 2, "distinct"), (1, [7], 0, "steps >= 1"), (9, [1], 1, "range")]:
        with pytest.raises(PoolError, match=match):
            labels.label(image, regions, step)
    with pytest.raises(PoolError, match="do not exist"):
        labels.label(1, [8], 2, num_regions=8)
    assert labels.state_dict() == [[1, 3, 1], [1, 5, 1]]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 9), st.integers(1, 4)), max_size=40))
def test_region_labels_never_label_twice_stay_in_the_pool_and_round_trip(rows):
    pool = ActivePool([Split.POOL] * 4 + [Split.HOLDOUT, Split.TEST])
    labels = RegionLabels(pool)
    accepted = set()
    for image, region, step in rows:
        try:
            labels.label(image, [region], step)
            accepted.add((image, region))
        except PoolError:
            assert image >= 4 or (image, region) in accepted
    state = labels.state_dict()
    assert len(state) == len(accepted) == len({(i, r) for i, r, _ in state})
    assert all(pool.split_of([i])[0] == Split.POOL for i, _, _ in state)
    restored = RegionLabels(pool)
    restored.load_state_dict(json.loads(json.dumps(state)))
    assert restored.state_dict() == state


@pytest.mark.parametrize("rows", [[[4, 1, 1]], [[0, 1, 1], [0, 1, 2]], [[0, 1, 0]], [[0, 1]], "x", [[0, 1.5, 1]]])
def test_a_bad_region_state_is_refused(rows):
    pool = ActivePool([Split.POOL] * 4 + [Split.HOLDOUT])
    with pytest.raises(PoolError):
        RegionLabels(pool).load_state_dict(rows)


def test_fill_budget_never_overspends_and_skips_what_does_not_fit():
    assert fill_budget([3, 5, 2, 4, 1], 6).tolist() == [0, 2, 4]
    assert fill_budget([7, 8], 6).tolist() == []
    assert fill_budget([1] * 10, 4).tolist() == [0, 1, 2, 3]
    assert fill_budget([9] * 5 + [1], 3, patience=5).tolist() == [], "gives up after `patience` misses in a row"


def test_choose_regions_takes_the_best_available_under_each_unit():
    scores = RegionScores(np.array([10, 11]), np.array([3, 2]), np.array([0.9, 0.1, 0.5, 0.8, 0.7]))
    areas = {10: np.array([40, 10, 30]), 11: np.array([50, 20])}
    available = np.array([False, True, True, True, True])
    by_region = choose_regions(scores, available, 2, "regions", areas.get)
    assert list(zip(by_region.image_ids, by_region.region_ids)) == [(11, 0), (11, 1)]
    by_pixels = choose_regions(scores, available, 65, "pixels", areas.get)
    assert list(zip(by_pixels.image_ids, by_pixels.region_ids)) == [(11, 0), (10, 1)]
    assert by_pixels.areas.sum() <= 65 and by_pixels.areas.tolist() == [50, 10]


def test_budget_settings_are_checked():
    assert Budget.from_config(dict(unit="pixels", per_step=100)) == Budget("pixels", 100)
    for bad in [dict(unit="pixels", per_step=0), dict(unit="boxes", per_step=3), dict(unit="images"), 5,
                dict(unit="images", per_step=2.5)]:
        with pytest.raises(InvalidValue, match="protocol.budget"):
            Budget.from_config(bad)


def test_clicks_count_polygon_vertices_or_traced_outlines(tmp_path):
    path = tmp_path / "a_gtFine_polygons.json"
    path.write_text(json.dumps({"imgHeight": 4, "imgWidth": 4, "objects": [
        {"label": "road", "polygon": [[0, 0], [3, 0], [3, 3]]}, {"label": "car", "polygon": [[1, 1], [2, 1], [2, 2], [1, 2]]}]}))
    assert polygon_file_clicks(path) == 7
    path.write_text("[1, 2]")
    with pytest.raises(InvalidValue, match=str(path.name)):
        polygon_file_clicks(path)
    label = np.full((20, 20), 255, np.uint8)
    label[2:8, 2:12] = 7  # a rectangle: 4 vertices
    label[10:18, 10:18] = 26  # a square: 4 vertices
    assert contour_clicks(label) == 8

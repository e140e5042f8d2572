import json
from pathlib import Path

import numpy as np
import pytest
import torch

from segal.data import SyntheticCity
from segal.data.cityscapes import LABEL_ID_TO_TRAIN_ID, TRAIN_CLASSES, read_train_ids
from segal.data.cityscapes_prep import convert_to_train_ids, write_split_lists
from segal.data.classification import DatasetFilesNotFound
from segal.data.synthetic_city import draw_scene, generate


def test_generation_is_deterministic_and_in_the_cityscapes_layout(tmp_path):
    for name in ("a", "b"):
        generate(tmp_path / name, num_train=5, num_val=2, height=32, width=64, seed=7, progress=False)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.png"))
    assert files_a == files_b and len(files_a) == 14
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files_a)
    assert any(str(f).startswith("leftImg8bit/train/") and f.name.endswith("_leftImg8bit.png") for f in files_a)
    assert any(str(f).startswith("gtFine/val/") and f.name.endswith("_gtFine_labelIds.png") for f in files_a)
    other = generate(tmp_path / "c", num_train=5, num_val=2, height=32, width=64, seed=8, progress=False)
    assert (other / files_a[0]).read_bytes() != (tmp_path / "a" / files_a[0]).read_bytes()


def test_class_frequencies_are_skewed_like_cityscapes():
    pixels = np.zeros(256)
    images_with = np.zeros(256)
    for i in range(150):
        _, label = draw_scene(64, 128, np.random.default_rng([0, 0, i]))
        counts = np.bincount(LABEL_ID_TO_TRAIN_ID[label].ravel(), minlength=256)
        pixels += counts
        images_with += counts > 0
    share = pixels[:19] / pixels[:19].sum()
    index = {name: i for i, name in enumerate(TRAIN_CLASSES)}
    for common in ("road", "building", "sky", "sidewalk"):
        assert share[index[common]] > 0.05 and images_with[index[common]] == 150
    for rare in ("rider", "bicycle", "motorcycle", "train"):
        assert 0 < images_with[index[rare]] < 0.2 * 150 and share[index[rare]] < 0.01
    assert share.max() / share[share > 0].min() > 100, "frequencies span orders of magnitude"


def test_dataset_generates_once_when_asked_and_refuses_other_options(tmp_path):
    root = tmp_path / "city"
    with pytest.raises(DatasetFilesNotFound, match="no generated dataset in .*city .dataset.data_root.; generate it"):
        SyntheticCity(str(root), num_train=6, num_val=3, height=32, width=64, workers=1)  # a mistyped data_root
    assert not root.exists(), "nothing is generated unless asked"
    ds = SyntheticCity(str(root), num_train=6, num_val=3, height=32, width=64, workers=1, generate=True)
    assert len(ds) == 9 and ds.is_test.sum() == 3
    assert json.loads((root / "synthetic_city.json").read_text())["num_train"] == 6
    stamp = ds.images[0].stat().st_mtime_ns
    assert len(SyntheticCity(str(root), num_train=6, num_val=3, height=32, width=64)) == 9
    assert ds.images[0].stat().st_mtime_ns == stamp, "an existing dataset is not regenerated"
    with pytest.raises(ValueError, match="generated with"):
        SyntheticCity(str(root), num_train=7, num_val=3, height=32, width=64)


def test_prep_writes_train_ids_and_split_lists(tmp_path):
    root = generate(tmp_path / "city", num_train=4, num_val=2, height=32, width=64, progress=False)
    written = convert_to_train_ids(root, workers=1, progress=False)
    assert len(written) == 6
    for path in written:
        source = path.replace("_labelTrainIds.png", "_labelIds.png")

        assert np.array_equal(read_train_ids(Path(path)), read_train_ids(Path(source)))
    assert convert_to_train_ids(root, workers=1, progress=False) == [], "existing files are kept"
    lists = write_split_lists(root, tmp_path / "lists")
    lines = lists[0].read_text().splitlines()
    assert len(lines) == 4 and lines[0].endswith("_gtFine_labelTrainIds.png")
    assert lines == sorted(lines)


def test_a_relative_data_root_is_found_beside_the_config_from_another_folder(tmp_path, monkeypatch):
    """Run from elsewhere, a shipped-style config used to generate a second city in ./data; it finds the first."""
    from mmengine.config import Config

    from segal.spec import build_dataset

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "configs").mkdir(parents=True)
    elsewhere.mkdir()
    config = project / "configs" / "city.py"
    config.touch()
    cfg = Config(dict(dataset=dict(type="SyntheticCity", data_root="data/city", generate=True, num_train=6, num_val=3, height=32,
                                   width=64, workers=1)), filename=str(config))
    monkeypatch.chdir(project)
    first = build_dataset(cfg)  # generated in the current folder, the project
    assert (project / "data/city").is_dir()
    first_label = first[0]["target"]
    monkeypatch.chdir(elsewhere)
    again = build_dataset(cfg)
    assert not (elsewhere / "data").exists()  # nothing generated here
    assert len(again) == len(first) == 9
    assert torch.equal(again[0]["target"], first_label)
    (elsewhere / "data/city").mkdir(parents=True)  # a folder of that name in the current folder comes first
    from segal.utils.paths import find_relative

    assert find_relative("data/city", str(config)) == Path("data/city")
    assert find_relative("data/other", str(config)) is None  # the dataset then names the current folder's path

import cv2
import numpy as np
import pytest
import torch
from cityscapesscripts.helpers.labels import id2label, trainId2label
from helpers.cityscapes import write_pair, write_random_cityscapes

from segal.data import Cityscapes, DatasetFilesNotFound
from segal.data.cityscapes import TRAIN_CLASSES
from segal.data.label_encoding import LabelError


def expected_train_ids(label_ids):
    """Independent mapping straight from cityscapesscripts' id2label."""
    out = np.full(label_ids.shape, 255, np.uint8)
    for value in np.unique(label_ids):
        train_id = id2label[int(value)].trainId
        out[label_ids == value] = train_id if 0 <= train_id < 255 else 255
    return out


def test_classes_are_the_19_train_ids():
    assert TRAIN_CLASSES == [trainId2label[i].name for i in range(19)]


def test_reads_layout_sorted_with_train_ids(tmp_path):
    written = write_random_cityscapes(tmp_path)
    ds = Cityscapes(str(tmp_path))
    assert len(ds) == 9 and ds.is_test.tolist() == [False] * 6 + [True] * 3
    assert ds.num_classes == 19 and ds.ignore_index == 255
    ordered = written["train"] + written["val"]
    assert [str(ds.image_path(i)) for i in range(9)] == [str(item[0][0]) for item in ordered]
    for idx in (0, 7):
        sample = ds[idx]
        (_, _), image, label_ids = ordered[idx]
        assert sample["inputs"].shape == (3, 32, 64) and sample["target"].dtype == torch.int64
        assert np.array_equal(sample["target"].numpy(), expected_train_ids(label_ids))
        raw, _ = ds.read(idx)
        assert np.array_equal(raw, cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    assert Cityscapes(str(tmp_path)).images == ds.images, "ids are stable across runs"


def test_label_train_ids_files_are_preferred(tmp_path):
    write_random_cityscapes(tmp_path, {"train": 2, "val": 1})
    ds = Cityscapes(str(tmp_path))
    label_path = ds.label_path(0)
    train_ids = np.full((32, 64), 4, np.uint8)
    cv2.imwrite(str(label_path).replace("_labelIds.png", "_labelTrainIds.png"), train_ids)
    ds = Cityscapes(str(tmp_path))
    assert ds.label_path(0).name.endswith("_labelTrainIds.png")
    assert (ds[0]["target"] == 4).all()


def test_pipelines_from_config(tmp_path):
    write_random_cityscapes(tmp_path, {"train": 2, "val": 1})
    ds = Cityscapes(str(tmp_path),
                    train_pipeline=[dict(type="RandomCrop", height=16, width=32), dict(type="HorizontalFlip")],
                    test_pipeline=[dict(type="Resize", height=16, width=32)])
    assert ds.load(0, train=True)["inputs"].shape == (3, 16, 32)
    assert ds[0]["target"].shape == (16, 32)
    ds.seed_augmentation(5)
    first = ds.load(1, train=True)["target"]
    ds.seed_augmentation(5)
    assert torch.equal(first, ds.load(1, train=True)["target"]), "seeded augmentation is reproducible"
    with pytest.raises(ValueError, match=r"dataset.train_pipeline\[0\]: 'Crop2' is not an albumentations"):
        Cityscapes(str(tmp_path), train_pipeline=[dict(type="Crop2")])


def test_missing_folder_names_it(tmp_path):
    with pytest.raises(DatasetFilesNotFound, match=str(tmp_path / "leftImg8bit" / "train")):
        Cityscapes(str(tmp_path))


def test_image_without_label_names_the_image(tmp_path):
    written = write_random_cityscapes(tmp_path, {"train": 2, "val": 1})
    (image_path, label_path), _, _ = written["train"][1]
    label_path.unlink()
    with pytest.raises(DatasetFilesNotFound, match=image_path.name):
        Cityscapes(str(tmp_path))


def test_size_mismatch_names_the_file(tmp_path):
    write_random_cityscapes(tmp_path, {"train": 2, "val": 1})
    _, label_path = write_pair(tmp_path, "train", "zurich", 0, np.zeros((32, 64, 3), np.uint8), np.zeros((16, 64)))
    ds = Cityscapes(str(tmp_path))
    index = [str(ds.label_path(i)) for i in range(len(ds))].index(str(label_path))
    with pytest.raises(LabelError, match=label_path.name):
        ds[index]


def test_value_that_is_no_cityscapes_id_names_the_file(tmp_path):
    write_random_cityscapes(tmp_path, {"train": 1, "val": 1})
    _, label_path = write_pair(tmp_path, "train", "zurich", 0, np.zeros((8, 8, 3), np.uint8), np.full((8, 8), 40))
    ds = Cityscapes(str(tmp_path))
    index = [str(ds.label_path(i)) for i in range(len(ds))].index(str(label_path))
    with pytest.raises(LabelError, match=rf"{label_path.name}.*\[40\]"):
        ds[index]


def test_unlabelled_images_are_allowed_when_labels_are_not_required(tmp_path):
    written = write_random_cityscapes(tmp_path, {"train": 3, "val": 1})
    (image_path, label_path), _, _ = written["train"][2]
    label_path.unlink()
    ds = Cityscapes(str(tmp_path), require_labels=False)
    assert ds.has_label(range(4)).tolist() == [True, True, False, True]
    assert ds[0]["target"].shape == (32, 64)
    with pytest.raises(LabelError, match=rf"{image_path.name} has no label yet"):
        ds[2]
    label_path.write_bytes(written["train"][1][0][1].read_bytes())  # the annotator delivers
    assert ds.has_label([2]).tolist() == [True]

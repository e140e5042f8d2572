"""SegmentationFolder: anyone's segmentation data by config. The shipped VOC, ADE20K and CamVid-style configs read
data written in those exact layouts, pixel for pixel; each leaf config runs; bad data is one line naming the file."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.layouts import SIZE, write_ade20k, write_camvid, write_voc
from helpers.tools import load_tool
from mmengine.config import Config

from segal.config import load_config
from segal.data.classification import DatasetFilesNotFound
from segal.data.label_encoding import LabelEncoding, LabelError
from segal.data.segmentation_folder import SegmentationFolder
from segal.errors import InvalidValue

REPO = Path(__file__).resolve().parents[2]


def _dataset(base: str, root: Path, **overrides) -> SegmentationFolder:
    """The shipped ``_base_/datasets/<base>.py`` pointed at ``root``, without its resizing pipelines."""
    declared = Config.fromfile(str(REPO / f"configs/_base_/datasets/{base}.py")).dataset.to_dict()
    declared.update(data_root=str(root), train_pipeline=[], test_pipeline=[], **overrides)
    declared.pop("type")
    return SegmentationFolder(**declared)


def _stem(dataset, idx):
    return dataset.image_path(idx).name[: -len(dataset.img_suffix)]


def _check_reads(dataset, truth, pool, test):
    assert len(dataset) == pool + test and int(dataset.is_test.sum()) == test
    for idx in range(len(dataset)):
        image, label = dataset.read(idx)
        assert image.shape == (*SIZE, 3) and np.array_equal(label, truth[_stem(dataset, idx)])
        sample = dataset[idx]
        assert sample["inputs"].shape == (3, *SIZE) and sample["target"].dtype.is_floating_point is False


def test_pascal_voc_reads_its_palette_pngs_and_split_lists(tmp_path):
    truth = write_voc(tmp_path / "VOC2012")
    dataset = _dataset("voc12", tmp_path / "VOC2012")
    _check_reads(dataset, truth, 10, 4)
    assert dataset.num_classes == 21 and dataset.classes[15] == "person"
    assert "2012_999999" not in {_stem(dataset, i) for i in range(len(dataset))}, "only the listed images"
    assert any((truth[_stem(dataset, i)] == 255).any() for i in range(len(dataset))), "borders stay ignored"


def test_ade20k_reduces_the_zero_label(tmp_path):
    truth = write_ade20k(tmp_path / "ADEChallengeData2016")
    dataset = _dataset("ade20k", tmp_path / "ADEChallengeData2016")
    _check_reads(dataset, truth, 10, 4)
    assert dataset.num_classes == 150 and len(dataset.palette) == 150 and len(set(dataset.palette)) == 150


def test_camvid_colour_masks_decode_through_the_palette(tmp_path):
    palette = Config.fromfile(str(REPO / "configs/_base_/datasets/camvid.py")).dataset.palette
    truth = write_camvid(tmp_path / "camvid", palette)
    dataset = _dataset("camvid", tmp_path / "camvid")
    _check_reads(dataset, truth, 10, 4)
    assert dataset.expected_label_path(0) == tmp_path / "camvid/train_labels" / f"{_stem(dataset, 0)}_L.png"


@pytest.mark.parametrize("kind, options", [
    ("index", {}), ("reduce_zero_label", {"reduce_zero_label": True}),
    ("label_map", {"label_map": {7: 0, 8: 1, 26: 2}}), ("colour", {"colour_labels": True, "ignore_colour": [9, 9, 9]}),
])
def test_each_encoding_writes_back_what_it_reads(kind, options):
    palette = [[10, 20, 30], [40, 50, 60], [70, 80, 90]]
    encoding = LabelEncoding.from_config(3, 255, palette=palette, **options)
    assert encoding.kind == kind
    indices = np.array([[0, 1, 2], [255, 2, 0]], np.uint8)
    assert np.array_equal(encoding.decode(encoding.encode(indices), Path("x.png")), indices)


def test_a_label_map_ignores_unmapped_values():
    encoding = LabelEncoding.from_config(2, 255, label_map={7: 0, 26: 1})
    decoded = encoding.decode(np.array([[7, 26, 3, 0]], np.uint8), Path("x.png"))
    assert decoded.tolist() == [[0, 1, 255, 255]]


def _flat_layout(root: Path, names=("a", "b", "c"), size=(8, 8), values=(0, 1)) -> Path:
    """``root/{img,ann}/{pool,test}/`` with index labels; returns root."""
    for split in ("pool", "test"):
        for name in names:
            for folder in ("img", "ann"):
                (root / folder / split).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / "img" / split / f"{name}.png"), np.zeros((*size, 3), np.uint8))
            cv2.imwrite(str(root / "ann" / split / f"{name}.png"), np.full(size, values[0], np.uint8))
    return root


FLAT = dict(classes=["background", "crop", "weed"], pool=dict(img_dir="img/pool", ann_dir="ann/pool"),
            test=dict(img_dir="img/test", ann_dir="ann/test"), img_suffix=".png")


def _bad_value(root):
    cv2.imwrite(str(root / "ann/pool/b.png"), np.full((8, 8), 7, np.uint8))


def _bad_colour(root):
    cv2.imwrite(str(root / "ann/pool/b.png"), np.full((8, 8, 3), 5, np.uint8))


def _same_stem(root):
    (root / "img/pool/sub").mkdir()
    cv2.imwrite(str(root / "img/pool/sub/a.png"), np.zeros((8, 8, 3), np.uint8))


@pytest.mark.parametrize("damage, options, error, words", [
    (None, dict(palette=[[0, 0, 0]]), InvalidValue, "dataset.palette has 1 colours for 3 classes"),
    (_bad_value, {}, LabelError, "ann/pool/b.png holds values [7] that are no class"),
    (_bad_colour, dict(colour_labels=True, palette=[[0, 0, 0], [1, 1, 1], [2, 2, 2]]), LabelError,
     "ann/pool/b.png has colour (5, 5, 5), which is in no class"),
    (lambda root: (root / "ann/pool/c.png").unlink(), {}, DatasetFilesNotFound, "img/pool/c.png has no label"),
    (_same_stem, {}, InvalidValue, "share the stem 'a'"),
    (lambda root: [p.unlink() for p in (root / "img/test").iterdir()], {}, DatasetFilesNotFound,
     "dataset.test: no images in"),
    (lambda root: (root / "pool.txt").write_text("a\nzzz\n"), dict(pool=dict(img_dir="img/pool", ann_dir="ann/pool",
                                                                              split="pool.txt")),
     DatasetFilesNotFound, "pool.txt names zzz, but"),
    (None, dict(classes=["a", "a"]), InvalidValue, "names 'a' twice"),
    (None, dict(reduce_zero_label=True, label_map={1: 0}), InvalidValue, "cannot be combined"),
])
def test_bad_data_is_one_error_naming_the_file_or_key(tmp_path, damage, options, error, words):
    root = _flat_layout(tmp_path / "data")
    if damage is not None:
        damage(root)
    with pytest.raises(error) as raised:
        dataset = SegmentationFolder(str(root), **{**FLAT, **options})
        for idx in range(len(dataset)):
            dataset.read(idx)
    assert words in str(raised.value) and "\n" not in str(raised.value)


def test_unlabelled_pool_images_are_allowed_for_annotation_runs(tmp_path):
    root = _flat_layout(tmp_path / "data")
    (root / "ann/pool/c.png").unlink()
    dataset = SegmentationFolder(str(root), require_labels=False, **FLAT)
    assert dataset.has_label(range(len(dataset))).tolist() == [True, True, False, True, True, True]
    assert dataset.expected_label_path(2) == root / "ann/pool/c.png"


@pytest.mark.slow
@pytest.mark.parametrize("name, write", [
    ("voc12", lambda root: write_voc(root, num_train=12, num_val=3)),
    ("ade20k", lambda root: write_ade20k(root, num_train=12, num_val=3)),
    ("camvid", lambda root: write_camvid(root, Config.fromfile(str(REPO / "configs/_base_/datasets/camvid.py"))
                                         .dataset.palette, num_train=12, num_val=3)),
])
def test_each_shipped_leaf_config_runs_on_its_layout(tmp_path, name, write):
    root = tmp_path / name
    write(root)
    work = tmp_path / "work"
    config = REPO / f"configs/{name}/deeplabv3plus-r18_holdout-loss-change.py"
    options = [f"dataset.data_root={root}", "dataset.train_pipeline=[]", "dataset.test_pipeline=[]",
               "protocol.initial_size=4", "protocol.holdout_size=2", "protocol.step_size=2", "protocol.num_steps=1",
               "train.max_epochs=1", "train.batch_size=4", "loop.progress=False", "device=cpu"]
    load_tool("train").main([str(config), "--work-dir", str(work), "--cfg-options", *options])
    records = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    classes = load_config(str(config)).dataset.classes
    assert [r["n_labelled"] for r in records] == [4, 6]
    assert list(records[-1]["per_class_iou"]) == list(classes), "per-class IoU is named by the dataset's classes"


def test_a_checkpoint_trained_for_other_classes_is_refused_in_one_line(finished_run):
    from segal.annotation.checkpoint import CheckpointMismatch, load_checkpoint
    from segal.spec import build_dataset, build_model

    cfg = load_config(str(finished_run / "config.json"))
    dataset = build_dataset(cfg)
    model = build_model(cfg.model, dataset)
    other = [f"class {i}" for i in range(len(dataset.classes))]
    other[3] = "weed"
    with pytest.raises(CheckpointMismatch) as raised:
        load_checkpoint(finished_run / "checkpoints/step_0.pth", model, cfg.model, other, "cpu")
    message = str(raised.value)
    assert "was trained for 10 classes, the config's dataset has 10; class 0 is '0' in the checkpoint and " \
           "'class 0' in the config" in message and "\n" not in message


@pytest.mark.slow
def test_the_ten_line_config_of_the_docs_trains_on_a_six_class_dataset(tmp_path):
    page = (REPO / "docs/own_data.md").read_text()
    block = page.split("## A config of ten lines", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    assert len(block.strip().splitlines()) <= 10
    config = tmp_path / "my_tiles.py"
    config.write_text(block.replace("'../_base_/", f"'{REPO}/configs/_base_/"))
    rng = np.random.default_rng(0)
    for split, count in (("train", 16), ("val", 4)):
        for index in range(count):
            for folder in ("img_dir", "ann_dir"):
                (tmp_path / "data/my_tiles" / folder / split).mkdir(parents=True, exist_ok=True)
            classes = rng.integers(0, 6, size=(32, 32)).astype(np.uint8)
            cv2.imwrite(str(tmp_path / f"data/my_tiles/img_dir/{split}/tile_{index:04d}.png"),
                        (classes[..., None] * 40).repeat(3, 2))
            cv2.imwrite(str(tmp_path / f"data/my_tiles/ann_dir/{split}/tile_{index:04d}.png"), classes)
    work = tmp_path / "work"
    load_tool("train").main([str(config), "--work-dir", str(work), "--cfg-options",
                             f"dataset.data_root={tmp_path / 'data/my_tiles'}", "protocol.initial_size=4",
                             "protocol.holdout_size=2", "protocol.step_size=2", "protocol.num_steps=1",
                             "train.max_epochs=1", "loop.progress=False", "device=cpu"])
    records = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert list(records[-1]["per_class_iou"]) == ["background", "building", "road", "tree", "car", "water"]


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_cvat_segmentation_mask_archive_of_seven_classes_imports_in_the_datasets_encoding(tmp_path):
    """segal's own Segmentation mask archive, as CVAT hands it back unchanged: the labels written are the
    predictions, as class indices in the dataset's index PNGs; no Cityscapes archive for these classes."""
    import subprocess
    import sys

    root, work = tmp_path / "category_city", tmp_path / "work"
    config = REPO / "configs/category_city/deeplabv3plus-r18_holdout-loss-change_annotation.py"
    options = ["--cfg-options", f"dataset.data_root={root}", "train.max_epochs=1"]

    def tool(*args):
        done = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=REPO)
        assert done.returncode == 0, done.stderr[-2000:]

    tool(REPO / "data_prep/category_city.py", root, "--num-train", 24, "--num-val", 4, "--labelled", 10)
    tool(REPO / "tools/train.py", config, "--work-dir", work, *options)
    tool(REPO / "tools/select.py", config, work / "checkpoints/step_0.pth", "--budget", 3, "--state",
         work / "state.json", "--export", "cvat", *options)
    out = work / "cvat_step1"
    assert not (out / "cityscapes_1.0.zip").exists() and (out / "segmentation_mask_1.1.zip").is_file()
    tool(REPO / "tools/import_labels.py", out / "segmentation_mask_1.1.zip", "--from", "cvat", "--state",
         work / "state.json")
    for entry in json.loads((work / "selection_step1.json").read_text())["selection"]:
        label = cv2.imread(str(root / "labels/train" / Path(entry["relative"]).name), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(label, cv2.imread(entry["prediction"], cv2.IMREAD_UNCHANGED))


@pytest.mark.parametrize("base, write", [
    ("camvid", lambda root: write_camvid(root, Config.fromfile(str(REPO / "configs/_base_/datasets/camvid.py"))
                                         .dataset.palette, num_train=2, num_val=1)),
    ("ade20k", lambda root: write_ade20k(root, num_train=2, num_val=1)),
])
def test_imported_labels_are_written_in_the_datasets_encoding_and_read_back(tmp_path, base, write):
    """What import_labels writes for a colour-mask or reduce-zero-label dataset is what the dataset then reads."""
    from segal.annotation.label_import import _LabelFiles
    from segal.annotation.label_scheme import LabelScheme

    root = tmp_path / base
    write(root)
    dataset = _dataset(base, root)
    files = _LabelFiles(dataset, LabelScheme.of_dataset(dataset))
    values = np.full(SIZE, 255, np.uint8)
    values[4:20, 8:40] = 3
    values[30:, :] = 0
    target = files.target(0)
    target.write_bytes(files.file_bytes(values))
    assert np.array_equal(dataset.read_label(target), values)
    assert np.array_equal(files.read(target), values)

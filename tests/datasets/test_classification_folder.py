"""ClassificationFolder: torchvision's ImageFolder layout or CSVs, read lazily; both protocols and an annotation step
run on it; bad layouts are one line."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.tools import load_tool
from sklearn.datasets import load_digits

from segal.data import ClassificationFolder
from segal.data.classification import DatasetFilesNotFound
from segal.errors import InvalidValue

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["zero", "one", "two", "three"]


def write_image_folder(root: Path, per_class: int = 40, test_per_class: int = 10) -> dict:
    """scikit-learn's digits 0-3 as 16x16 PNGs in ``root/{train,val}/<class>/``; returns ``{path: class index}``."""
    digits = load_digits()
    truth, counts = {}, {}
    for image, label in zip(digits.images, digits.target):
        if label >= len(CLASSES):
            continue
        n = counts.get(label, 0)
        if n >= per_class + test_per_class:
            continue
        counts[label] = n + 1
        split = "train" if n < per_class else "val"
        path = root / split / CLASSES[label] / f"{n:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        grey = cv2.resize((image * 15).astype(np.uint8), (16, 16), interpolation=cv2.INTER_NEAREST)
        cv2.imwrite(str(path), np.stack([grey] * 3, -1))
        truth[path] = int(label)
    return truth


def test_an_image_folder_reads_lazily_with_its_folder_classes(tmp_path):
    truth = write_image_folder(tmp_path / "data", per_class=5, test_per_class=2)
    dataset = ClassificationFolder(str(tmp_path / "data"), image_size=(16, 16))
    assert dataset.classes == sorted(CLASSES) and len(dataset) == 28 and int(dataset.is_test.sum()) == 8
    for idx in range(len(dataset)):
        assert dataset.classes[int(dataset.labels[idx])] == CLASSES[truth[dataset.image_path(idx)]]
    sample = dataset[3]
    assert sample["inputs"].shape == (3, 16, 16) and int(sample["target"]) == dataset.labels[3]
    assert not hasattr(dataset, "images_tensor"), "nothing is held in memory but paths and labels"


def test_a_csv_split_with_unlabelled_rows_is_for_annotation_runs(tmp_path):
    write_image_folder(tmp_path / "data", per_class=3, test_per_class=1)
    rows = ["path,label"] + [f"train/{c}/000.png,{c}" for c in CLASSES] + [f"train/{c}/001.png," for c in CLASSES]
    (tmp_path / "data/pool.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetFilesNotFound, match="has no label .dataset.require_labels=False"):
        ClassificationFolder(str(tmp_path / "data"), (16, 16), pool="pool.csv", classes=CLASSES)
    dataset = ClassificationFolder(str(tmp_path / "data"), (16, 16), pool="pool.csv", classes=CLASSES,
                                   require_labels=False)
    assert dataset.has_label(range(8)).tolist() == [True] * 4 + [False] * 4


@pytest.mark.parametrize("damage, options, error, words", [
    (lambda root: (root / "val/seven").mkdir(), {"classes": CLASSES}, InvalidValue, "val/seven is no class"),
    (lambda root: (root / "pool.csv").write_text("train/zero/000.png,nine\n"),
     {"pool": "pool.csv", "classes": CLASSES}, InvalidValue, "pool.csv, line 1: 'nine' is no class"),
    (lambda root: (root / "pool.csv").write_text("train/zero/999.png,zero\n"),
     {"pool": "pool.csv", "classes": CLASSES}, DatasetFilesNotFound, "pool.csv, line 1:"),
    (None, {"test": "test"}, DatasetFilesNotFound, "no class folders in"),
    (None, {"image_size": (16,)}, InvalidValue, "dataset.image_size must be (height, width)"),
])
def test_bad_layouts_are_one_line(tmp_path, damage, options, error, words):
    write_image_folder(tmp_path / "data", per_class=2, test_per_class=1)
    if damage is not None:
        damage(tmp_path / "data")
    with pytest.raises(error) as raised:
        ClassificationFolder(str(tmp_path / "data"), **{"image_size": (16, 16), **options})
    assert words in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["balanced", "imbalanced"])
def test_both_protocols_run_on_an_image_folder(tmp_path, protocol):
    write_image_folder(tmp_path / "data")
    work = tmp_path / "work"
    options = [f"dataset.data_root={tmp_path / 'data'}", "dataset.image_size=(16,16)", "protocol.initial_size=20",
               "protocol.num_steps=2", "train.max_epochs=2", "loop.progress=False", "device=cpu"]
    if protocol == "imbalanced":
        options += ["protocol.minority_classes=[0,1]"]
    load_tool("train").main([str(REPO / f"configs/image_folder/resnet18_holdout-loss-change_{protocol}.py"),
                             "--work-dir", str(work), "--cfg-options", *options])
    records = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 3 and len(records[-1]["per_class_accuracy"]) == 4


@pytest.mark.slow
def test_an_annotation_step_on_a_csv_pool(tmp_path):
    """Rows without a label wait for annotators; select.py picks some, they fill the CSV in, the next step trains."""
    truth = write_image_folder(tmp_path / "data", per_class=20, test_per_class=5)
    root = tmp_path / "data"
    pool = sorted(p for p in truth if "/train/" in str(p))
    rows = ["path,label"] + [f"{p.relative_to(root)},{CLASSES[truth[p]] if i % 4 == 0 else ''}"
                             for i, p in enumerate(pool)]
    (root / "pool.csv").write_text("\n".join(rows) + "\n")
    config = tmp_path / "annotate.py"
    config.write_text(f"""_base_ = ['{REPO}/configs/image_folder/resnet18_holdout-loss-change_balanced.py']
dataset = dict(data_root='{root}', pool='pool.csv', classes={CLASSES!r}, image_size=(16, 16), require_labels=False)
protocol = dict(_delete_=True, type='LabelledFilesProtocol', holdout_size=4)
train = dict(max_epochs=2)
loop = dict(oracle='annotators', progress=False)
device = 'cpu'
""")
    work = tmp_path / "work"
    load_tool("train").main([str(config), "--work-dir", str(work)])
    load_tool("select").main([str(config), str(work / "checkpoints/step_0.pth"), "--budget", "6", "--state",
                              str(work / "state.json")])
    chosen = {Path(e["image"]) for e in json.loads((work / "selection_step1.json").read_text())["selection"]}
    rows = ["path,label"] + [f"{p.relative_to(root)},{CLASSES[truth[p]] if (i % 4 == 0 or p in chosen) else ''}"
                             for i, p in enumerate(pool)]
    (root / "pool.csv").write_text("\n".join(rows) + "\n")  # the annotators' answers
    load_tool("train").main([str(config), "--work-dir", str(work)])
    records = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert [r["n_labelled"] for r in records] == [16, 22]  # 20 labelled rows, 4 of them the holdout; then 6 more


@pytest.mark.slow
def test_select_ranks_new_images_outside_the_run_with_pool(tmp_path, capsys):
    truth = write_image_folder(tmp_path / "data", per_class=10, test_per_class=2)
    work = tmp_path / "work"
    config = str(REPO / "configs/image_folder/resnet18_holdout-loss-change_balanced.py")
    options = ["--cfg-options", f"dataset.data_root={tmp_path / 'data'}", "dataset.image_size=(16,16)",
               "protocol.initial_size=8", "protocol.num_steps=1", "train.max_epochs=1", "loop.progress=False",
               "device=cpu", "scorer.type=Entropy"]
    load_tool("train").main([config, "--work-dir", str(work), *options])
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    for n, path in enumerate(sorted(truth)[:6]):  # new, unlabelled photos
        (incoming / f"new_{n}.png").write_bytes(path.read_bytes())
    load_tool("select").main([config, str(work / "checkpoints/step_1.pth"), "--budget", "3", "--pool",
                              str(incoming), "--work-dir", str(tmp_path / "ranked"), *options])
    selection = json.loads((tmp_path / "ranked/selection.json").read_text())["selection"]
    assert [e["rank"] for e in selection] == [1, 2, 3]
    assert all(Path(e["image"]).parent == incoming and e["predicted"]["class"] in sorted(CLASSES) for e in selection)
    scores = [e["score"] for e in selection]
    assert scores == sorted(scores, reverse=True)

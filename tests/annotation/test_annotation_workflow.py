"""The human-in-the-loop cycle as a team runs it: train, select, annotate, train again."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from segal.data.synthetic_city import generate

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs/cityscapes/deeplabv3plus-r18_holdout-loss-change_annotation.py"


def run_tool(tool, *args):
    return subprocess.run([sys.executable, str(REPO / "tools" / tool), *args], capture_output=True, text=True, cwd=REPO)


def options(root):
    return ["--cfg-options", f"dataset.data_root={root}", "dataset.train_pipeline=[]", "protocol.holdout_size=2",
            "train.max_epochs=1", "train.batch_size=4", "loop.progress=False", "device=cpu"]


@pytest.mark.slow
@pytest.mark.subprocess
def test_train_select_annotate_train(tmp_path):
    root = generate(tmp_path / "city", num_train=14, num_val=3, height=32, width=64, progress=False)
    hidden = tmp_path / "annotations_to_come"
    pool_labels = sorted((root / "gtFine" / "train").rglob("*_labelIds.png"))
    for label in pool_labels[6:]:  # only 6 pool images are labelled to begin with
        target = hidden / label.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(label), target)
    work = tmp_path / "work"

    # 1. train: step 0 on the labelled images (4 initial + 2 holdout)
    result = run_tool("train.py", str(CONFIG), "--work-dir", str(work), *options(root))
    assert result.returncode == 0, result.stderr
    state = json.loads((work / "state.json").read_text())
    labelled_before = set(np.flatnonzero(np.array(state["pool"]["labelled_step"]) >= 0).tolist())
    holdout = set(np.flatnonzero(np.array(state["pool"]["splits"]) == 2).tolist())
    test = set(np.flatnonzero(np.array(state["pool"]["splits"]) == 3).tolist())
    assert len(labelled_before) == 4 and len(holdout) == 2 and len(test) == 3

    # 2. select K = 3 with heatmaps; the selection is recorded as step 1, pending annotation
    result = run_tool("select.py", str(CONFIG), str(work / "checkpoints/step_0.pth"), "--budget", "3",
                      "--state", str(work / "state.json"), "--heatmaps", str(work / "heatmaps"), *options(root))
    assert result.returncode == 0, result.stderr
    selection = json.loads((work / "selection_step1.json").read_text())["selection"]
    chosen = [entry["id"] for entry in selection]
    assert len(chosen) == 3 and [e["rank"] for e in selection] == [1, 2, 3]
    assert not set(chosen) & (labelled_before | holdout | test), "no leakage into the selection"
    assert all(Path(e["image"]).is_file() and e["predicted"] for e in selection)
    assert len((work / "selection_step1.csv").read_text().splitlines()) == 4
    assert len(list((work / "heatmaps").glob("*.png"))) == 3
    state = json.loads((work / "state.json").read_text())
    assert sorted(np.flatnonzero(np.array(state["pool"]["labelled_step"]) == 1).tolist()) == sorted(chosen)

    # a folder pool may not hold the run's own test or holdout images
    listing = tmp_path / "incoming.txt"
    test_image = sorted((root / "leftImg8bit" / "val").rglob("*.png"))[0]
    listing.write_text(f"{test_image}\n")
    leaked = run_tool("select.py", str(CONFIG), str(work / "checkpoints/step_0.pth"), "--budget", "1",
                      "--pool", str(listing), "--cfg-options", *options(root)[1:])
    assert leaked.returncode == 1 and test_image.name in leaked.stderr and "(test)" in leaked.stderr

    # selecting again before training on the pending step is refused
    again = run_tool("select.py", str(CONFIG), str(work / "checkpoints/step_0.pth"), "--budget", "3",
                     "--state", str(work / "state.json"), *options(root))
    assert again.returncode == 1 and "pending annotation" in again.stderr
    assert "annotation step 1" in again.stderr and f"python tools/train.py CONFIG --work-dir {work}" in again.stderr

    # training before the labels exist stops and lists every missing image; the state is untouched
    before = (work / "state.json").read_bytes()
    early = run_tool("train.py", str(CONFIG), "--work-dir", str(work), *options(root))
    assert early.returncode == 1 and "3 of the 3 images of annotation step 1" in early.stderr
    for entry in selection:  # the label files the annotator must write, where the dataset reads them
        image = Path(entry["image"])
        label = image.parents[3] / "gtFine" / image.parent.parent.name / image.parent.name / image.name.replace(
            "_leftImg8bit.png", "_gtFine_labelIds.png")
        assert str(label) in early.stderr
    assert (work / "state.json").read_bytes() == before

    # 3. the annotator delivers the labels of the selected images
    for entry in selection:
        stem = Path(entry["image"]).name.replace("_leftImg8bit.png", "_gtFine_labelIds.png")
        delivered = next(hidden.rglob(stem))
        shutil.move(str(delivered), root / delivered.relative_to(hidden))

    # 4. train again: the labelled count grows by exactly K
    result = run_tool("train.py", str(CONFIG), "--work-dir", str(work), *options(root))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert [r["n_labelled"] for r in records] == [4, 7]
    assert records[0]["selected_ids"] == chosen and 0 <= records[0]["mistake_rate"] <= 1
    assert sum(records[0]["selected_class_pixels"].values()) > 0
    assert (work / "checkpoints" / "step_1.pth").is_file()


@pytest.mark.slow
@pytest.mark.subprocess
def test_allow_missing_trains_on_the_delivered_labels(tmp_path):
    root = generate(tmp_path / "city", num_train=12, num_val=2, height=32, width=64, progress=False)
    pool_labels = sorted((root / "gtFine" / "train").rglob("*_labelIds.png"))
    held = {}
    for label in pool_labels[6:]:
        held[label] = label.read_bytes()
        label.unlink()
    work = tmp_path / "work"
    assert run_tool("train.py", str(CONFIG), "--work-dir", str(work), *options(root)).returncode == 0
    result = run_tool("select.py", str(CONFIG), str(work / "checkpoints/step_0.pth"), "--budget", "2",
                      "--state", str(work / "state.json"), *options(root))
    assert result.returncode == 0, result.stderr
    first = json.loads((work / "selection_step1.json").read_text())["selection"][0]
    stem = Path(first["image"]).name.replace("_leftImg8bit.png", "_gtFine_labelIds.png")
    label = next(p for p in held if p.name == stem)
    label.write_bytes(held[label])  # one of the two is delivered
    result = run_tool("train.py", str(CONFIG), "--work-dir", str(work), "--allow-missing", *options(root))
    assert result.returncode == 0, result.stderr
    assert "labels are missing" in result.stderr
    records = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert [r["n_labelled"] for r in records] == [4, 5]

    # the late label may still be imported after the next selection, and counts from the next step on
    from segal.annotation.dataset_images import DatasetImages, import_dataset
    from segal.annotation.label_import import _pending_images

    assert run_tool("select.py", str(CONFIG), str(work / "checkpoints/step_1.pth"), "--budget", "1",
                    "--state", str(work / "state.json"), *options(root)).returncode == 0
    late_image = next(Path(e["image"]) for e in json.loads((work / "selection_step1.json").read_text())["selection"]
                      if Path(e["image"]).name.replace("_leftImg8bit.png", "_gtFine_labelIds.png") != stem)
    dataset = import_dataset(str(root), state=str(work / "state.json"))
    pending, _ = _pending_images(work / "state.json", DatasetImages(dataset))
    assert late_image.resolve() in {Path(dataset.image_path(i)).resolve() for i in pending}, \
        "an image that trained without its label"
    second = json.loads((work / "selection_step2.json").read_text())["selection"][0]
    for image in (late_image, Path(second["image"])):
        name = image.name.replace("_leftImg8bit.png", "_gtFine_labelIds.png")
        label = next(p for p in held if p.name == name)
        label.write_bytes(held[label])
    result = run_tool("train.py", str(CONFIG), "--work-dir", str(work), *options(root))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert [r["n_labelled"] for r in records] == [4, 5, 7]
    # annotation runs record what the delivered labels cost, as simulated ones do (the late image from step 2 on)
    assert [r["labelled_images"] - records[0]["labelled_images"] for r in records] == [0, 1, 3]
    assert [r["labelled_pixels"] - records[0]["labelled_pixels"] for r in records] == [0, 32 * 64, 3 * 32 * 64]
    assert records[2]["labelled_clicks"] > records[1]["labelled_clicks"] > records[0]["labelled_clicks"] > 0
    assert records[2]["labelled_clicks_fraction"] is None and 0 < records[2]["labelled_pixels_fraction"] < 1


@pytest.mark.slow
@pytest.mark.subprocess
def _run_readme_block(tmp_path, marker: str):
    """A README command block, line for line, in a folder of its own (configs, tools, data_prep linked in), so
    its relative data and work folders land there."""
    readme = (REPO / "README.md").read_text()
    block = readme.split(f"<!-- {marker}:start -->", 1)[1].split(f"<!-- {marker}:end -->", 1)[0]
    commands = block.split("```bash", 1)[1].split("```", 1)[0]
    for name in ("configs", "tools", "data_prep"):
        (tmp_path / name).symlink_to(REPO / name)
    script = tmp_path / f"{marker}.sh"
    script.write_text("set -euo pipefail\n" + commands.replace("python ", f"{sys.executable} "))
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_the_readme_walkthrough_runs_as_written(tmp_path):
    _run_readme_block(tmp_path, "walkthrough")
    work = tmp_path / "work_dirs/synthetic_city_annotation"
    steps = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert [s["n_labelled"] for s in steps] == [16, 24] and len(steps[0]["selected_ids"]) == 8
    assert len(list((work / "heatmaps_step1").glob("*.png"))) == 8
    assert "mIoU" in json.loads((work / "test_step1" / "metrics.json").read_text())
    assert len(list((tmp_path / "data/synthetic_city_annotation/labels_to_deliver").rglob("*.png"))) == 88


@pytest.mark.slow
@pytest.mark.subprocess
def test_the_own_classes_quick_start_runs_as_written(tmp_path):
    """Seven classes in plain folders: images then regions selected, exported to Label Studio, answered, imported
    in the dataset's own encoding, and trained on."""
    import cv2
    import numpy as np

    _run_readme_block(tmp_path, "own-classes")
    root = tmp_path / "data/category_city"
    for run, selected in (("category_city", 4), ("category_city_regions", None)):
        work = tmp_path / "work_dirs" / run
        steps = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
        assert len(steps) == 2 and list(steps[-1]["per_class_iou"]) == [
            "flat", "construction", "object", "nature", "sky", "human", "vehicle"]
        config = (work / "labelstudio_step1" / "label_config.xml").read_text()
        assert 'value="vehicle"' in config and "road" not in config
        selection = json.loads((work / "selection_step1.json").read_text())
        names = {Path(e["relative"]).name for e in selection["selection"]}
        assert selected is None or len(names) == selected
        for name in names:  # each imported label: index PNG, the true classes wherever it is labelled
            label = cv2.imread(str(root / "labels/train" / name), cv2.IMREAD_UNCHANGED)
            truth = cv2.imread(str(root / "labels_to_deliver" / name), cv2.IMREAD_UNCHANGED)
            labelled = label != 255
            assert labelled.any() and np.array_equal(label[labelled], truth[labelled])
            assert selected is None or labelled.all()
    assert steps[-1]["labelled_regions"] > 0  # the region run recorded what its regions cost

"""Selections handed to Label Studio and CVAT: tasks, labelling config and archives, checked against the model's
predictions and against the Cityscapes definitions (cityscapesscripts), not against segal's own tables."""
import hashlib
import json
import subprocess
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import cv2
import numpy as np
import pytest
from cityscapesscripts.helpers.labels import labels as CITYSCAPES_LABELS
from cityscapesscripts.helpers.labels import trainId2label
from helpers.annotation_runs import make_pending_selection
from helpers.tool_envs import tool_python
from helpers.tools import load_tool, run_main

from segal.annotation.brush_rle import decode_mask

TRAIN_NAMES = [trainId2label[i].name for i in range(19)]


@pytest.fixture(scope="module")
def pending_regions(tmp_path_factory):
    return make_pending_selection(tmp_path_factory.mktemp("export_regions"), budget=4, regions=True)


def export(selection, to, out, *extra):
    load_tool("export").main([str(selection), "--to", to, "--out", str(out), *extra])
    return out


def predictions(selection):
    """``{relative image path: (train-id prediction, entry)}`` from the selection file."""
    found = {}
    for entry in json.loads(Path(selection).read_text())["selection"]:
        relative = "leftImg8bit/" + entry["image"].split("/leftImg8bit/", 1)[1]
        found.setdefault(relative, (cv2.imread(entry["prediction"], cv2.IMREAD_UNCHANGED), entry))
    return found


def hex_of(rgb):
    return "#" + "".join(f"{c:02x}" for c in rgb)


def test_select_writes_each_images_prediction_at_full_resolution(pending):
    entries = json.loads(pending.selection.read_text())["selection"]
    assert len(entries) == 3
    for entry in entries:
        predicted = cv2.imread(entry["prediction"], cv2.IMREAD_UNCHANGED)
        image = cv2.imread(entry["image"])
        assert predicted.shape == image.shape[:2] and predicted.dtype == np.uint8 and predicted.max() < 19


def test_labelstudio_tasks_hold_one_brush_layer_per_predicted_class(pending, tmp_path):
    out = export(pending.selection, "labelstudio", tmp_path / "ls")
    tasks = json.loads((out / "tasks.json").read_text())
    expected = predictions(pending.selection)
    assert len(tasks) == 3
    for task in tasks:
        relative = task["data"]["segal_image"]
        predicted, entry = expected[relative]
        assert task["data"]["image"] == "/data/local-files/?d=" + relative
        (prediction,) = task["predictions"]
        # the model that predicted it (step 0's, selecting for step 1); a score that reads as a percentage
        assert prediction["model_version"] == "work/step_0" and task["data"]["segal_step"] == 1
        assert prediction["score"] == pytest.approx((3 - entry["rank"] + 1) / 3)
        assert task["data"]["segal_score"] == entry["score"] and task["data"]["segal_rank"] == entry["rank"]
        assert task["data"]["segal_sha256"] == hashlib.sha256(Path(entry["image"]).read_bytes()).hexdigest()
        layers = {r["value"]["brushlabels"][0]: r for r in prediction["result"]}
        assert sorted(layers) == sorted(TRAIN_NAMES[c] for c in np.unique(predicted))
        for name, result in layers.items():
            assert (result["original_height"], result["original_width"]) == predicted.shape
            assert result["from_name"] == "label" and result["to_name"] == "image"
            mask = decode_mask(result["value"]["rle"], *predicted.shape)
            assert np.array_equal(mask, predicted == TRAIN_NAMES.index(name))


def test_labelstudio_config_names_the_classes_in_the_cityscapes_colours(pending, tmp_path):
    out = export(pending.selection, "labelstudio", tmp_path / "ls")
    view = ElementTree.fromstring((out / "label_config.xml").read_text())
    (brush,) = view.findall("BrushLabels")  # whole images: no region layer
    assert brush.get("toName") == view.find("Image").get("name") and view.find("Image").get("value") == "$image"
    labels = [(label.get("value"), label.get("background")) for label in brush.findall("Label")]
    assert labels == [(trainId2label[i].name, hex_of(trainId2label[i].color)) for i in range(19)]


def test_image_root_prefixes_the_image_paths(pending, tmp_path):
    out = export(pending.selection, "labelstudio", tmp_path / "ls", "--image-root", "https://data.example/city/")
    tasks = json.loads((out / "tasks.json").read_text())
    assert all(t["data"]["image"] == "https://data.example/city/" + t["data"]["segal_image"] for t in tasks)
    out = export(pending.selection, "cvat", tmp_path / "cvat", "--image-root", "/share/")
    assert (out / "images.txt").read_text().splitlines() == ["/share/" + path for path in predictions(pending.selection)]


def test_cvat_archives_hold_label_ids_colours_and_label_maps(pending, tmp_path):
    out = export(pending.selection, "cvat", tmp_path / "cvat")
    expected = predictions(pending.selection)
    official = sorted((label for label in CITYSCAPES_LABELS if label.id >= 0), key=lambda label: label.id)
    with zipfile.ZipFile(out / "cityscapes_1.0.zip") as archive:
        lines = archive.read("label_colors.txt").decode().splitlines()
        assert lines == [f"{r} {g} {b} {label.name.replace(' ', '')}" for label in official
                         for r, g, b in [label.color]]
        for relative, (predicted, _) in expected.items():
            _, _, city, name = relative.split("/")
            stem = f"gtFine/{city}/{Path(name).stem}"
            label_ids = cv2.imdecode(np.frombuffer(archive.read(f"{stem}_gtFine_labelIds.png"), np.uint8), -1)
            truth = np.vectorize(lambda t: trainId2label[t].id)(predicted)
            assert np.array_equal(label_ids, truth)
            instances = cv2.imdecode(np.frombuffer(archive.read(f"{stem}_gtFine_instanceIds.png"), np.uint8), -1)
            assert instances.dtype == np.uint16 and np.array_equal(instances, truth)
            colour = cv2.imdecode(np.frombuffer(archive.read(f"{stem}_gtFine_color.png"), np.uint8), 1)[:, :, ::-1]
            assert np.array_equal(colour, np.array([trainId2label[t].color for t in range(19)])[predicted])
    with zipfile.ZipFile(out / "segmentation_mask_1.1.zip") as archive:
        labelmap = [line for line in archive.read("labelmap.txt").decode().splitlines() if not line.startswith("#")]
        assert labelmap[0] == "background:0,0,0::" and len(labelmap) == 20
        assert labelmap[7] == "trafficlight:250,170,30::"
        items = archive.read("ImageSets/Segmentation/default.txt").decode().split()
        assert sorted(items) == sorted(Path(relative).stem for relative in expected)
        for relative, (predicted, _) in expected.items():
            data = archive.read(f"SegmentationClass/{Path(relative).stem}.png")
            colour = cv2.imdecode(np.frombuffer(data, np.uint8), 1)[:, :, ::-1]
            assert np.array_equal(colour, np.array([trainId2label[t].color for t in range(19)])[predicted])
    labels = json.loads((out / "labels.json").read_text())
    assert [label["name"] for label in labels] == [name.replace(" ", "") for name in TRAIN_NAMES]
    assert (out / "images.txt").read_text().splitlines() == list(expected)


@pytest.mark.slow
@pytest.mark.subprocess
def test_datumaro_reads_the_cvat_archives_as_the_predictions(pending, tmp_path):
    """datumaro is the dataset library CVAT imports these formats with; it reads both archives in its own venv."""
    out = export(pending.selection, "cvat", tmp_path / "cvat")
    for name in ("cityscapes_1.0.zip", "segmentation_mask_1.1.zip"):
        with zipfile.ZipFile(out / name) as archive:
            archive.extractall(tmp_path / name.split("_")[0])
    for city in (tmp_path / "cityscapes" / "gtFine").iterdir():  # datumaro 1.x wants an image folder per subset
        (tmp_path / "cityscapes" / "leftImg8bit" / city.name).mkdir(parents=True)
    script = """
import json, sys
import datumaro as dm
found = {}
for path, fmt in [(sys.argv[1], "cityscapes"), (sys.argv[2], "voc_segmentation")]:
    dataset = dm.Dataset.import_from(path, fmt)
    names = dataset.categories()[dm.AnnotationType.label]
    for item in dataset:
        found.setdefault(fmt, {})[item.id] = {names[a.label].name: int(a.image.sum()) for a in item.annotations
                                              if a.type == dm.AnnotationType.mask}
print(json.dumps(found))
"""
    result = subprocess.run([str(tool_python("datumaro")), "-c", script, str(tmp_path / "cityscapes"),
                             str(tmp_path / "segmentation")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    for relative, (predicted, _) in predictions(pending.selection).items():
        counts = {TRAIN_NAMES[c].replace(" ", ""): int((predicted == c).sum()) for c in np.unique(predicted)}
        assert found["cityscapes"][Path(relative).stem] == counts
        assert found["voc_segmentation"][Path(relative).stem] == counts


@pytest.mark.slow
def test_region_mode_cuts_pre_annotations_to_the_regions_and_outlines_them(pending_regions, tmp_path):
    expected = predictions(pending_regions.selection)
    masks = {relative: cv2.imread(entry["mask"], cv2.IMREAD_UNCHANGED) > 0 for relative, (_, entry) in expected.items()}
    out = export(pending_regions.selection, "labelstudio", tmp_path / "ls")
    view = ElementTree.fromstring((out / "label_config.xml").read_text())
    assert [b.get("name") for b in view.findall("BrushLabels")] == ["label", "segal_regions"]
    for task in json.loads((out / "tasks.json").read_text()):
        predicted, _ = expected[task["data"]["segal_image"]]
        mask = masks[task["data"]["segal_image"]]
        results = task["predictions"][0]["result"]
        layers = {r["value"]["brushlabels"][0]: decode_mask(r["value"]["rle"], *mask.shape)
                  for r in results if r["from_name"] == "label"}
        assert sorted(layers) == sorted(TRAIN_NAMES[c] for c in np.unique(predicted[mask]))
        for name, layer in layers.items():
            assert np.array_equal(layer, mask & (predicted == TRAIN_NAMES.index(name)))
        (outline,) = [r for r in results if r["from_name"] == "segal_regions"]
        band = decode_mask(outline["value"]["rle"], *mask.shape)
        edges = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
        assert np.array_equal(band, edges) and band.any()
    out = export(pending_regions.selection, "cvat", tmp_path / "cvat")
    with zipfile.ZipFile(out / "cityscapes_1.0.zip") as archive:
        assert archive.read("label_colors.txt").decode().splitlines()[-1] == "0 255 255 segal_regions"
        for relative, (predicted, _) in expected.items():
            _, _, city, name = relative.split("/")
            data = archive.read(f"gtFine/{city}/{Path(name).stem}_gtFine_labelIds.png")
            label_ids = cv2.imdecode(np.frombuffer(data, np.uint8), -1)
            mask = masks[relative]
            truth = np.vectorize(lambda t: trainId2label[t].id)(predicted)
            assert np.array_equal(label_ids[mask], truth[mask])
            outside = label_ids[~mask]
            assert set(np.unique(outside)) <= {0, 34} and (outside == 34).any()


@pytest.mark.parametrize("damage, message", [
    (lambda s: s.write_text("{not json"), "is not a selection JSON"),
    (lambda s: s.write_text(json.dumps({"selection": []})), "holds no 'selection' list"),
    (lambda s: s.write_text(json.dumps({"selection": [{"id": 1, "image": "x.png"}]})), "predates pre-annotations"),
    (lambda s: s.write_text(json.dumps({"selection": [{"id": 1, "image": "", "predicted": {"class": "7"}}]})),
     "selects images for classification"),
    (lambda s: s.write_text(json.dumps({"selection": [{"id": "1", "image": "x.png", "prediction": "p.png"}]})),
     "'id' is '1'"),
])
def test_a_bad_selection_file_is_refused_in_one_line(pending, tmp_path, capsys, damage, message):
    selection = tmp_path / "selection_step1.json"
    damage(selection)
    code, err = run_main("export", [str(selection), "--to", "labelstudio", "--out", str(tmp_path / "out")], capsys)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "tasks.json").exists()


def test_a_prediction_of_the_wrong_size_is_refused_naming_it(pending, tmp_path, capsys):
    saved = json.loads(pending.selection.read_text())
    wrong = tmp_path / "wrong.png"
    cv2.imwrite(str(wrong), np.zeros((5, 5), np.uint8))
    saved["selection"][1]["prediction"] = str(wrong)
    selection = tmp_path / "selection_step1.json"
    selection.write_text(json.dumps(saved))
    code, err = run_main("export", [str(selection), "--to", "cvat", "--out", str(tmp_path / "out")], capsys)
    assert code == 1 and str(wrong) in err and "5x5" in err
    assert not (tmp_path / "out" / "cityscapes_1.0.zip").exists()


def test_an_unknown_tool_is_refused_by_the_parser(pending, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_tool("export").main([str(pending.selection), "--to", "roboflow", "--out", "x"])
    assert exit_info.value.code == 2 and "invalid choice: 'roboflow'" in capsys.readouterr().err


"""The annotation round trip through a real Label Studio server: select and export with segal, create the project
and import the tasks through Label Studio's REST API, correct a pre-annotation as an annotator would, export the
project, import the labels with segal and train the next step. Label Studio runs from its own environment; if it
cannot be installed or started, these tests fail."""
import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.annotation_runs import CONFIG, exported_labelstudio_run, run_options, run_tool
from helpers.label_studio import LabelStudio, brush, label_ids, layers_of
from helpers.tool_envs import tool_python

from segal.annotation.brush_rle import encode_mask

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.subprocess]


@pytest.fixture(scope="module")
def exported_run(tmp_path_factory):
    return exported_labelstudio_run(tmp_path_factory.mktemp("ls_run"))


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory, exported_run):
    server = LabelStudio(tmp_path_factory.mktemp("ls_data"), document_root=exported_run[0])
    yield server
    server.stop()


def test_select_label_in_label_studio_import_and_train(exported_run, label_studio):
    root, work = exported_run
    export_dir = work / "labelstudio_step1"
    tasks = json.loads((export_dir / "tasks.json").read_text())
    project = label_studio.call("POST", "/api/projects", {"title": "segal step 1",
                                                          "label_config": (export_dir / "label_config.xml").read_text()})
    label_studio.call("POST", "/api/storages/localfiles", {"project": project["id"], "title": "images",
                                                           "path": str(root / "leftImg8bit"), "use_blob_urls": False})
    imported = label_studio.call("POST", f"/api/projects/{project['id']}/import", tasks)
    assert imported["task_count"] == 3 and imported["prediction_count"] == 3
    listed = label_studio.call("GET", f"/api/tasks?project={project['id']}&fields=all&page_size=50")["tasks"]
    by_image = {task["data"]["segal_image"]: task for task in listed}
    assert sorted(by_image) == sorted(task["data"]["segal_image"] for task in tasks)

    ours = {task["data"]["segal_image"]: task for task in tasks}
    first, second, third = [by_image[task["data"]["segal_image"]] for task in tasks]
    submitted = {}
    for task in (first, second):
        (prediction,) = label_studio.call("GET", f"/api/predictions?task={task['id']}")
        sent = ours[task["data"]["segal_image"]]["predictions"][0]
        assert prediction["model_version"] == "work/step_0" and prediction["score"] == pytest.approx(sent["score"])
        layers = layers_of(prediction["result"])
        assert [name for name, _ in layers] == [name for name, _ in layers_of(sent["result"])]
        if task is first:  # the annotator paints a car over part of the prediction and submits: in Label
            car = np.zeros_like(layers[0][1])  # Studio the new layer lies on top of the predicted ones
            car[16:48, 40:96] = True
            layers = layers + [("car", car)]
            result = prediction["result"] + [brush("car", car)]
        else:  # the annotator accepts the pre-annotation as it is
            result = prediction["result"]
        label_studio.call("POST", f"/api/tasks/{task['id']}/annotations",
                          {"result": result, "was_cancelled": False, "ground_truth": False, "lead_time": 12.5})
        submitted[task["data"]["segal_image"]] = label_ids(layers)

    export = work / "label_studio_export.json"
    export.write_bytes(label_studio.call("GET", f"/api/projects/{project['id']}/export?exportType=JSON", raw=True))
    result = run_tool("import_labels.py", str(export), "--from", "labelstudio", "--data-root", str(root),
                      "--state", str(work / "state.json"))
    assert "wrote 2 label files" in result.stdout and "1 task had overlapping layers" in result.stdout
    for relative, truth in submitted.items():
        label = root / relative.replace("leftImg8bit/", "gtFine/", 1).replace("_leftImg8bit.png", "_gtFine_labelIds.png")
        assert np.array_equal(cv2.imread(str(label), cv2.IMREAD_UNCHANGED), truth), relative
    third_label = root / third["data"]["segal_image"].replace("leftImg8bit/", "gtFine/", 1)
    assert not third_label.with_name(third_label.name.replace("_leftImg8bit", "_gtFine_labelIds")).exists()

    result = run_tool("train.py", CONFIG, "--work-dir", str(work), "--allow-missing", *run_options(root))
    records = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert [r["n_labelled"] for r in records] == [6, 8] and (work / "checkpoints/step_1.pth").is_file()
    assert [r["labelled_seconds"] for r in records] == [0.0, 25.0], "Label Studio's lead_time of the 2 tasks"


def test_the_brush_encoder_matches_label_studio_sdk_bit_for_bit(tmp_path):
    """label-studio-sdk's own encoder gives the same bytes, and its decoder gives the masks back."""
    rng = np.random.default_rng(3)
    masks = {"empty": np.zeros((7, 9), np.uint8), "full": np.full((300, 301), 255, np.uint8),
             "noise": (rng.random((64, 48)) > 0.5).astype(np.uint8) * 255,
             "values": rng.integers(0, 256, (33, 17)).astype(np.uint8)}
    cityscapes = np.zeros((1024, 2048), np.uint8)
    cityscapes[100:700, 300:1900] = 255
    cityscapes[800:] = 255  # runs of more than 2**16 values
    masks["cityscapes"] = cityscapes
    np.savez(tmp_path / "masks.npz", **masks)
    (tmp_path / "ours.json").write_text(json.dumps({name: encode_mask(mask) for name, mask in masks.items()}))
    script = """
import json, sys
import numpy as np
from label_studio_sdk.converter.brush import decode_rle, mask2rle
masks, ours = np.load(sys.argv[1]), json.load(open(sys.argv[2]))
for name in masks.files:
    mask = masks[name]
    assert list(mask2rle(mask)) == ours[name], f"{name}: bytes differ"
    decoded = decode_rle(ours[name]).reshape(*mask.shape, 4)
    assert (decoded == mask[:, :, None]).all(), f"{name}: decoded mask differs"
print("checked", len(masks.files))
"""
    result = subprocess.run([str(tool_python("label-studio")), "-c", script, str(tmp_path / "masks.npz"),
                             str(tmp_path / "ours.json")], capture_output=True, text=True)
    assert result.returncode == 0 and "checked 5" in result.stdout, result.stderr[-2000:]

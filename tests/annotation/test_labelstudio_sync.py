"""tools/labelstudio.py against a real Label Studio server: setup, push (twice, no duplicates), annotate through
the API, status, pull; the label files equal what was annotated, pending tasks stay pending, and the token appears
in nothing the tools write or print."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.annotation_runs import exported_labelstudio_run
from helpers.label_studio import LabelStudio, brush, label_ids, layers_of

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.subprocess]
PROJECT = "segal sync"


@pytest.fixture(scope="module")
def exported_run(tmp_path_factory):
    return exported_labelstudio_run(tmp_path_factory.mktemp("sync_run"))


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory, exported_run):
    server = LabelStudio(tmp_path_factory.mktemp("sync_ls"), document_root=exported_run[0])
    yield server
    server.stop()


def tool(server, *args, token=None):
    """``tools/labelstudio.py ARGS`` with the server's URL and the user's token in the environment."""
    env = {**os.environ, "LABEL_STUDIO_URL": server.url,
           "LABEL_STUDIO_API_KEY": server.personal_token if token is None else token}
    return subprocess.run([sys.executable, str(REPO / "tools/labelstudio.py"), *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=600)


def label_file(root, relative):
    name = relative.replace("leftImg8bit/", "gtFine/", 1).replace("_leftImg8bit.png", "_gtFine_labelIds.png")
    return root / name


def test_setup_push_annotate_status_and_pull_through_the_api(exported_run, label_studio):
    root, work = exported_run
    export_dir, outputs = work / "labelstudio_step1", []
    for _ in range(2):
        outputs.append(tool(label_studio, "setup", export_dir, "--project", PROJECT, "--data-root", root))
        assert outputs[-1].returncode == 0, outputs[-1].stderr
    assert "created" in outputs[0].stdout and f"storage added at {root.resolve() / 'leftImg8bit'}" in outputs[0].stdout
    assert "found" in outputs[1].stdout and "storage added" not in outputs[1].stdout
    for expected in ("pushed 3 tasks", "pushed 0 tasks to 'segal sync'; 3 already there"):
        outputs.append(tool(label_studio, "push", export_dir, "--project", PROJECT))
        assert outputs[-1].returncode == 0 and expected in outputs[-1].stdout, outputs[-1].stderr
    (project,) = [p for p in label_studio.call("GET", "/api/projects")["results"] if p["title"] == PROJECT]
    listed = label_studio.call("GET", f"/api/tasks?project={project['id']}&fields=all&page_size=50")["tasks"]
    assert len(listed) == 3 and all(task["total_predictions"] == 1 for task in listed)

    order = [task["data"]["segal_image"] for task in json.loads((export_dir / "tasks.json").read_text())]
    by_image = {task["data"]["segal_image"]: task for task in listed}
    done, skipped, pending = (by_image[image] for image in order)
    (prediction,) = label_studio.call("GET", f"/api/predictions?task={done['id']}")
    car = np.zeros_like(layers_of(prediction["result"])[0][1])
    car[8:40, 16:80] = True  # the annotator paints a car over the prediction and submits
    label_studio.call("POST", f"/api/tasks/{done['id']}/annotations",
                      {"result": prediction["result"] + [brush("car", car)], "was_cancelled": False})
    label_studio.call("POST", f"/api/tasks/{skipped['id']}/annotations", {"result": [], "was_cancelled": True})
    submitted = label_ids(layers_of(prediction["result"]) + [("car", car)])

    outputs.append(tool(label_studio, "status", "--project", PROJECT))
    assert "step 1: 1 done, 1 skipped, 1 pending" in outputs[-1].stdout, outputs[-1].stderr
    outputs.append(tool(label_studio, "pull", "--project", PROJECT, "--state", work / "state.json"))
    assert outputs[-1].returncode == 0, outputs[-1].stderr
    assert "exported 1 finished task" in outputs[-1].stdout and "wrote 1 label file" in outputs[-1].stdout
    written = cv2.imread(str(label_file(root, done["data"]["segal_image"])), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(written, submitted)
    for task in (skipped, pending):
        assert not label_file(root, task["data"]["segal_image"]).exists(), "skipped and pending tasks stay pending"
    (kept,) = (work / "labelstudio_pulls").iterdir()
    assert {task["id"] for task in json.loads(kept.read_text())} == {done["id"], skipped["id"], pending["id"]}

    token = label_studio.personal_token.encode()
    for path in [*work.rglob("*"), *root.rglob("*.json")]:
        assert not path.is_file() or token not in path.read_bytes(), path
    assert not any(label_studio.personal_token in out.stdout + out.stderr for out in outputs)


def test_a_wrong_token_or_project_is_one_line_that_shows_no_token(exported_run, label_studio):
    root, work = exported_run
    wrong = label_studio.personal_token[:-6] + "AAAAAA"
    refused = tool(label_studio, "status", "--project", PROJECT, token=wrong)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "refused the token" in refused.stderr and wrong not in refused.stderr
    missing = tool(label_studio, "push", work / "labelstudio_step1", "--project", "no such project")
    assert missing.returncode == 1 and "no Label Studio project is titled 'no such project'" in missing.stderr
    unreachable = subprocess.run([sys.executable, str(REPO / "tools/labelstudio.py"), "status", "--project", PROJECT,
                                  "--url", "http://127.0.0.1:9"], capture_output=True, text=True, cwd=REPO,
                                 env={**os.environ, "LABEL_STUDIO_API_KEY": "legacy-token"})
    assert unreachable.returncode == 1 and "cannot reach Label Studio at http://127.0.0.1:9" in unreachable.stderr
    assert "legacy-token" not in unreachable.stderr

"""Label Studio's API and ML backend against a real server. tools/labelstudio.py: setup, push (twice, no
duplicates), annotate through the API, status, pull; the label files equal what was annotated, pending tasks stay
pending, and the token appears in nothing the tools write or print. tools/ml_backend.py: connected to a project,
its predictions sort the tasks as select.py ranked them, and a submitted annotation trains the next step."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.annotation_runs import CONFIG, exported_labelstudio_run, run_options
from helpers.label_studio import LabelStudio, brush, free_port, label_ids, layers_of

from segal.annotation.labelstudio import polygon_mask

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.subprocess]
PROJECT = "segal sync"


@pytest.fixture(scope="module")
def exported_run(tmp_path_factory):
    return exported_labelstudio_run(tmp_path_factory.mktemp("sync_run"))


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory, exported_run):
    # the ML backend runs on this machine: Label Studio must be let to call 127.0.0.1, which it blocks by default
    server = LabelStudio(tmp_path_factory.mktemp("sync_ls"), document_root=exported_run[0],
                         env={"USE_DEFAULT_BANNED_SUBNETS": "false"})
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
    corners = [[0, 0], [40, 0], [0, 60]]  # and draws a sky polygon on top, in percent of the image
    sky = {"from_name": "polygon", "to_name": "image", "type": "polygonlabels", "original_width": car.shape[1],
           "original_height": car.shape[0], "value": {"points": corners, "closed": True, "polygonlabels": ["sky"]}}
    label_studio.call("POST", f"/api/tasks/{done['id']}/annotations",
                      {"result": prediction["result"] + [brush("car", car), sky], "was_cancelled": False})
    label_studio.call("POST", f"/api/tasks/{skipped['id']}/annotations", {"result": [], "was_cancelled": True})
    submitted = label_ids(layers_of(prediction["result"]) + [("car", car), ("sky", polygon_mask(corners, *car.shape))])

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


def test_a_reviewed_only_pull_waits_for_the_reviewer_s_ground_truth_mark(exported_run, label_studio):
    root, work = exported_run
    export_dir, project = work / "labelstudio_step1", "segal review"
    for command in ("setup", "push"):
        extra = ["--data-root", root] if command == "setup" else []
        assert tool(label_studio, command, export_dir, "--project", project, *extra).returncode == 0
    (found,) = [p for p in label_studio.call("GET", "/api/projects")["results"] if p["title"] == project]
    listed = label_studio.call("GET", f"/api/tasks?project={found['id']}&fields=all&page_size=50")["tasks"]
    task = next(t for t in listed if not label_file(root, t["data"]["segal_image"]).exists())
    (prediction,) = label_studio.call("GET", f"/api/predictions?task={task['id']}")
    annotation = label_studio.call("POST", f"/api/tasks/{task['id']}/annotations",
                                   {"result": prediction["result"], "was_cancelled": False, "lead_time": 41.0})
    pull = ["pull", "--project", project, "--state", work / "state.json", "--take", "ground_truth"]
    waiting = tool(label_studio, *pull)
    assert waiting.returncode == 0 and "wrote 0 label files" in waiting.stdout, waiting.stderr
    assert not label_file(root, task["data"]["segal_image"]).exists(), "not reviewed yet: it waits"
    label_studio.call("PATCH", f"/api/annotations/{annotation['id']}", {"ground_truth": True})  # the reviewer's star
    reviewed = tool(label_studio, *pull)
    assert reviewed.returncode == 0 and "wrote 1 label file" in reviewed.stdout, reviewed.stderr
    np.testing.assert_array_equal(
        cv2.imread(str(label_file(root, task["data"]["segal_image"])), cv2.IMREAD_UNCHANGED),
        label_ids(layers_of(prediction["result"])))
    times = json.loads((work / "annotation_times.json").read_text())
    assert times[task["data"]["segal_image"]] == 41.0, "Label Studio's lead_time, recorded for the run's costs"


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


@pytest.fixture
def ml_backend(exported_run):
    """``tools/ml_backend.py`` serving the run on a free port, training after every new label."""
    root, work = exported_run
    port = free_port()
    process = subprocess.Popen([sys.executable, str(REPO / "tools/ml_backend.py"), CONFIG, str(work), "--port",
                                str(port), "--train-every", "1", *run_options(root)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
                if answer.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError):
            assert process.poll() is None, process.stdout.read()
            time.sleep(1)
    yield url
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)


def backend_status(url):
    with urllib.request.urlopen(f"{url}/status", timeout=120) as answer:
        return json.loads(answer.read())


def test_the_ml_backend_ranks_tasks_in_label_studio_and_trains_on_a_submit(exported_run, label_studio, ml_backend):
    root, work = exported_run
    export = json.loads((work / "labelstudio_step1/tasks.json").read_text())
    project = label_studio.call("POST", "/api/projects", {
        "title": "segal ml", "label_config": (work / "labelstudio_step1/label_config.xml").read_text()})
    label_studio.call("POST", "/api/storages/localfiles", {"project": project["id"], "title": "images",
                                                           "path": str(root / "leftImg8bit"), "use_blob_urls": False})
    label_studio.call("POST", f"/api/projects/{project['id']}/import", [{"data": t["data"]} for t in export])
    label_studio.call("POST", "/api/ml", {"url": ml_backend, "project": project["id"], "title": "segal"})
    label_studio.call("POST", f"/api/dm/actions?id=retrieve_tasks_predictions&project={project['id']}",
                      {"selectedItems": {"all": True, "excluded": []}})
    listed = label_studio.call("GET", f"/api/tasks?project={project['id']}&fields=all&page_size=50")["tasks"]
    scored = {}
    for task in listed:
        (prediction,) = label_studio.call("GET", f"/api/predictions?task={task['id']}")
        assert prediction["model_version"] == "work/step_0" and layers_of(prediction["result"])
        scored[task["data"]["segal_image"]] = (prediction["score"], task, prediction)
    by_score = sorted(scored, key=lambda image: scored[image][0], reverse=True)
    assert by_score == [t["data"]["segal_image"] for t in export], "Label Studio's order by score is select.py's"

    unlabelled = [image for image in by_score if not label_file(root, image).exists()]
    score, task, prediction = scored[unlabelled[0]]
    label_studio.call("POST", f"/api/tasks/{task['id']}/annotations",
                      {"result": prediction["result"], "was_cancelled": False})  # accepted as predicted
    deadline = time.monotonic() + 600
    while backend_status(ml_backend)["step"] != 1 and time.monotonic() < deadline:
        time.sleep(2)
    status = backend_status(ml_backend)
    assert status["step"] == 1 and status["model_version"] == "work/step_1", status
    np.testing.assert_array_equal(cv2.imread(str(label_file(root, unlabelled[0])), cv2.IMREAD_UNCHANGED),
                                  label_ids(layers_of(prediction["result"])))

"""segal's Label Studio ML backend, through its HTTP app: predictions and scores equal select.py's for the same
checkpoint, bad requests get clean errors and the server goes on, basic auth, and a submitted annotation trains
the next step and moves the model version."""
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
from cityscapesscripts.helpers.labels import name2label
from helpers.annotation_runs import CONFIG, exported_labelstudio_run, run_options
from helpers.label_studio import brush, free_port, label_ids, layers_of
from starlette.testclient import TestClient

from segal.annotation.ml_backend import AnnotationIntake, RunPredictor
from segal.annotation.ml_server import create_app
from segal.config import load_config
from segal.config_options import parse_cfg_options
from segal.spec import ExperimentSpec

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def exported_run(tmp_path_factory):
    return exported_labelstudio_run(tmp_path_factory.mktemp("ml_run"))


def backend(root, work, train_every=10, credentials=None, max_tasks=256, regions=False, score_scale=1.0):
    options = parse_cfg_options(run_options(root, regions)[1:])
    predictor = RunPredictor(ExperimentSpec(load_config(CONFIG, options)), work, score_scale)
    intake = AnnotationIntake(CONFIG, work, train_every, options)
    return TestClient(create_app(predictor, intake, credentials, max_tasks=max_tasks)), intake


def exported_tasks(work):
    return json.loads((work / "labelstudio_step1/tasks.json").read_text())


def test_predictions_and_scores_equal_select_py_s_for_the_same_checkpoint(exported_run):
    root, work = exported_run
    client, _ = backend(root, work)
    assert client.get("/health").json()["status"] == "UP"
    assert client.post("/setup", json={"project": "1.1"}).json() == {"model_version": "work/step_0"}
    tasks = exported_tasks(work)
    asked = [{"id": 10 + n, "data": task["data"]} for n, task in enumerate(reversed(tasks))]
    results = client.post("/predict", json={"tasks": asked}).json()["results"]
    assert len(results) == len(tasks) and {r["model_version"] for r in results} == {"work/step_0"}
    scores = {task["data"]["segal_image"]: r["score"] for task, r in zip(asked, results)}
    np.testing.assert_allclose([scores[t["data"]["segal_image"]] for t in tasks],
                               [t["data"]["segal_score"] for t in tasks], rtol=1e-6)  # float32 batches differ
    by_score = sorted(scores, key=scores.get, reverse=True)
    assert by_score == [t["data"]["segal_image"] for t in tasks], "Label Studio's order by score is select.py's"
    for task, result in zip(asked, results):
        sent = next(t for t in tasks if t["data"]["segal_image"] == task["data"]["segal_image"])
        ours, theirs = layers_of(result["result"]), layers_of(sent["predictions"][0]["result"])
        assert [name for name, _ in ours] == [name for name, _ in theirs]
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(ours, theirs)), "the same pre-annotation"

    # by default the scores come scaled by the power of ten that puts the largest in [1, 10): the same order
    client, _ = backend(root, work, score_scale="auto")
    shown = [r["score"] for r in client.post("/predict", json={"tasks": asked}).json()["results"]]
    scale = client.get("/status").json()["score_scale"]
    assert 1 <= max(abs(s) for s in shown) < 10 and np.log10(scale) == round(np.log10(scale))
    np.testing.assert_allclose(shown, [scores[t["data"]["segal_image"]] * scale for t in asked], rtol=1e-12)


def test_one_forward_pass_a_batch_gives_both_the_prediction_and_the_score(exported_run):
    root, work = exported_run
    predictor = RunPredictor(ExperimentSpec(load_config(CONFIG, parse_cfg_options(run_options(root)[1:]))), work)
    tasks = exported_tasks(work)
    first = predictor.predict(tasks)  # prepares the scorer (its holdout pass) for the checkpoint
    predictor.scores.clear()
    predictor.layers.clear()
    calls = []
    predictor.ctx.model.trunk.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    again = predictor.predict(tasks)
    size = predictor.ctx.batch_size
    assert calls == [min(size, len(tasks) - start) for start in range(0, len(tasks), size)], "one pass a batch"
    assert [a["score"] for a in again] == [f["score"] for f in first]
    assert [a["result"] for a in again] == [f["result"] for f in first]


def test_a_region_run_s_tasks_show_their_pending_regions_and_sort_as_select_py_ranked_them(tmp_path):
    root, work = exported_labelstudio_run(tmp_path, regions=True)
    client, _ = backend(root, work, train_every=1, regions=True)
    tasks = exported_tasks(work)
    asked = [{"id": 30 + n, "data": task["data"]} for n, task in enumerate(reversed(tasks))]
    results = client.post("/predict", json={"tasks": asked}).json()["results"]
    scores = {task["data"]["segal_image"]: r["score"] for task, r in zip(asked, results)}
    assert sorted(scores, key=scores.get, reverse=True) == [t["data"]["segal_image"] for t in tasks], \
        "Label Studio's order by score is the export's"
    selected = json.loads((work / "selection_step1.json").read_text())["selection"]
    best = {}
    for entry in selected:  # an image's score is its best selected region's, exactly re-scored as select.py did
        best[entry["relative"]] = max(best.get(entry["relative"], -np.inf), entry["score"])
    np.testing.assert_allclose([scores[name] for name in best], list(best.values()), rtol=1e-5)
    for task, result in zip(asked, results):
        sent = next(t for t in tasks if t["data"]["segal_image"] == task["data"]["segal_image"])
        ours = [r for r in result["result"] if r["from_name"] == "segal_regions"]
        theirs = [r for r in sent["predictions"][0]["result"] if r["from_name"] == "segal_regions"]
        assert [r["value"]["rle"] for r in ours] == [r["value"]["rle"] for r in theirs], "the same outlines"

    # an image not selected: scored by its best unlabelled region, with no outline to label
    pool = sorted(p.relative_to(root).as_posix() for p in (root / "leftImg8bit/train").glob("*/*.png"))
    other = next(name for name in pool if name not in scores)
    answer = client.post("/predict", json={"tasks": [{"id": 99, "data": {"image": f"/data/local-files/?d={other}"}}]})
    result = answer.json()["results"][0]
    assert np.isfinite(result["score"]) and all(r["from_name"] != "segal_regions" for r in result["result"])

    # an annotation painted over the whole image keeps only its pending regions' pixels
    task = {"id": 31, **tasks[0]}
    layers = layers_of([r for r in task["predictions"][0]["result"] if r["from_name"] != "segal_regions"])
    car = np.ones_like(layers[0][1])
    annotation = {"id": 6, "result": [brush("car", car)], "was_cancelled": False}
    done = client.post("/webhook", json={"action": "ANNOTATION_CREATED", "task": task, "annotation": annotation})
    answer = done.json()
    assert answer["labels_written"] == 1 and answer["pixels_outside_regions"] > 0
    label = root / task["data"]["segal_image"].replace("leftImg8bit/", "gtFine/", 1).replace(
        "_leftImg8bit.png", "_gtFine_labelIds.png")
    written = cv2.imread(str(label), cv2.IMREAD_UNCHANGED)
    chosen = [e for e in selected if e["relative"] == task["data"]["segal_image"]]
    dataset = ExperimentSpec(load_config(CONFIG, parse_cfg_options(run_options(root, True)[1:]))).dataset
    pending = np.isin(dataset.region_map(chosen[0]["id"]), [e["region"] for e in chosen])
    np.testing.assert_array_equal(written, np.where(pending, name2label["car"].id, 0))
    assert answer["pixels_outside_regions"] == written.size - pending.sum(), "the paint left out, counted"


def test_a_bad_request_gets_a_clean_error_and_the_server_goes_on(exported_run):
    root, work = exported_run
    client, _ = backend(root, work, max_tasks=2)
    task = exported_tasks(work)[0]
    outside = {"id": 7, "data": {"image": "/data/local-files/?d=../../../etc/passwd"}}
    answer = client.post("/predict", json={"tasks": [outside]})
    assert answer.status_code == 422 and answer.json()["error"].startswith("task 7: image '../../../etc/passwd' lies "
                                                                           "outside the dataset root")
    unknown = {"id": 8, "data": {"image": "/data/local-files/?d=leftImg8bit/train/nowhere/x_leftImg8bit.png"}}
    assert "task 8" in client.post("/predict", json={"tasks": [unknown]}).json()["error"]
    assert client.post("/predict", json={"tasks": [task] * 3}).status_code == 413
    assert client.post("/predict", content=b"{not json").status_code == 400
    assert client.post("/predict", json={"tasks": []}).status_code == 400
    assert client.post("/predict", json={"tasks": [task]}).status_code == 200, "still serving"


def test_every_route_but_health_asks_for_basic_auth_when_set(exported_run):
    root, work = exported_run
    client, _ = backend(root, work, credentials=("segal", "s3cret"))
    assert client.get("/health").status_code == 200
    refused = client.post("/setup", json={})
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Basic"
    assert client.post("/setup", json={}, auth=("segal", "wrong")).status_code == 401
    assert client.post("/setup", json={}, auth=("segal", "s3cret")).json()["model_version"] == "work/step_0"


def test_a_submitted_annotation_is_imported_and_trains_the_next_step(tmp_path):
    root, work = exported_labelstudio_run(tmp_path)
    client, intake = backend(root, work, train_every=1)
    task = {"id": 21, **exported_tasks(work)[0]}
    layers = layers_of(task["predictions"][0]["result"])
    car = np.zeros_like(layers[0][1])
    car[8:40, 16:80] = True
    annotation = {"id": 5, "result": task["predictions"][0]["result"] + [brush("car", car)], "was_cancelled": False}
    done = client.post("/webhook", json={"action": "ANNOTATION_CREATED", "task": task, "annotation": annotation})
    assert done.json() == {"action": "ANNOTATION_CREATED", "labels_written": 1, "training_started": True}
    label = root / task["data"]["segal_image"].replace("leftImg8bit/", "gtFine/", 1).replace(
        "_leftImg8bit.png", "_gtFine_labelIds.png")
    np.testing.assert_array_equal(cv2.imread(str(label), cv2.IMREAD_UNCHANGED), label_ids(layers + [("car", car)]))
    assert client.get("/status").json()["training"] is True
    deadline = time.monotonic() + 300
    while intake.is_training and time.monotonic() < deadline:
        time.sleep(1)
    assert intake.training.returncode == 0, Path(intake.log).read_text()[-2000:]
    answer = client.post("/predict", json={"tasks": [task]}).json()["results"][0]
    assert answer["model_version"] == "work/step_1", "predictions move to the new step's model"
    assert client.post("/webhook", json={"action": "PROJECT_UPDATED"}).json()["ignored"] is True
    assert client.post("/train", json={}).json() == {"training_started": True}, "Start Training"
    intake.training.wait(timeout=300)


def start_backend(root, work, port):
    return subprocess.Popen([sys.executable, str(REPO / "tools/ml_backend.py"), CONFIG, str(work), "--port", str(port),
                             "--train-every", "1", *run_options(root)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def call(url, path, payload=None):
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())


def wait_for(condition, seconds=300):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.5)
    return False


@pytest.mark.subprocess
def test_a_backend_killed_while_training_trains_the_step_when_it_starts_again(tmp_path):
    root, work = exported_labelstudio_run(tmp_path)
    port = free_port()
    url, task = f"http://127.0.0.1:{port}", {"id": 3, **exported_tasks(work)[0]}
    backend = start_backend(root, work, port)
    assert wait_for(lambda: call(url, "/health")["status"] == "UP"), backend.stdout.read()
    annotation = {"id": 9, "result": task["predictions"][0]["result"], "was_cancelled": False}
    assert call(url, "/webhook", {"action": "ANNOTATION_CREATED", "task": task, "annotation": annotation})[
        "training_started"]
    os.killpg(backend.pid, signal.SIGKILL)  # the backend and its training step, mid-step
    backend.wait()
    assert call_fails(url)
    assert json.loads((work / "state.json").read_text())["completed_step"] == 0, "killed before the step committed"
    restarted = start_backend(root, work, port)
    try:
        assert wait_for(lambda: call(url, "/status")["step"] == 1), restarted.stdout.read()
        assert call(url, "/status")["model_version"] == "work/step_1"
    finally:
        os.killpg(restarted.pid, signal.SIGTERM)
        restarted.wait(timeout=60)
    assert "training the next step: 1 labels were waiting" in restarted.stdout.read()


def call_fails(url) -> bool:
    try:
        call(url, "/health")
    except (urllib.error.URLError, ConnectionError):
        return True
    return False

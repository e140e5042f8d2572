"""The screenshot of docs/labelstudio_ml_backend.md: Label Studio's Data Manager sorted by segal's scores.

    python docs/scripts/ml_backend_screenshot.py [--out docs/images/labelstudio_ml_backend.png]

Builds a small synthetic-city annotation run (step 0 trained, as tests/helpers/annotation_runs.py does), starts
Label Studio from the tests' environment and tools/ml_backend.py on the run, imports every unlabelled pool image
as a task without predictions, connects the backend, retrieves its predictions, and saves the Data Manager
ordered by prediction score, high to low, with headless Chromium (docs/scripts/screenshot.js; the npm packages
are installed on first use into ~/.cache/segal/screenshot).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).parent))
from helpers.annotation_runs import CONFIG, exported_labelstudio_run, run_options  # noqa: E402
from helpers.label_studio import PASSWORD, USER, LabelStudio, free_port  # noqa: E402
from labelstudio_screenshot import node_modules  # noqa: E402

#: Data Manager columns left out of the picture.
HIDDEN = ["tasks:annotators", "tasks:total_annotations", "tasks:cancelled_annotations", "tasks:annotations_results",
          "tasks:annotations_ids", "tasks:predictions_results", "tasks:file_upload", "tasks:storage_filename",
          "tasks:created_at", "tasks:updated_at", "tasks:updated_by", "tasks:inner_id", "tasks:drafts",
          "tasks:lead_time", "tasks:comment_count", "tasks:avg_lead_time", "tasks:draft_exists"]


def start_backend(root: Path, work: Path):
    """``(process, url, its /health answer)`` of tools/ml_backend.py serving ``work``."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(REPO / "tools/ml_backend.py"), CONFIG, str(work), "--port",
                                str(port), *run_options(root)], cwd=REPO, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
                return process, url, json.loads(answer.read())
        except OSError:
            time.sleep(1)
    raise SystemExit("the ML backend did not start")


def sorted_by_score(server: LabelStudio, root: Path, work: Path, url: str, model_version: str) -> str:
    """Creates the project, retrieves the backend's predictions and a view sorted by score; returns its path."""
    config = (work / "labelstudio_step1/label_config.xml").read_text()
    project = server.call("POST", "/api/projects", {"title": "segal: sorted by score", "label_config": config})
    server.call("POST", "/api/storages/localfiles", {"project": project["id"], "title": "images",
                                                     "path": str(root / "leftImg8bit"), "use_blob_urls": False})
    images = sorted(p.relative_to(root).as_posix() for p in (root / "leftImg8bit/train").rglob("*.png"))
    tasks = [{"data": {"image": f"/data/local-files/?d={image}", "segal_image": image}} for image in images
             if not (root / image.replace("leftImg8bit/", "gtFine/", 1).replace(
                 "_leftImg8bit.png", "_gtFine_labelIds.png")).exists()]  # the unlabelled pool
    server.call("POST", f"/api/projects/{project['id']}/import", tasks)
    server.call("POST", "/api/ml", {"url": url, "project": project["id"], "title": "segal"})
    server.call("POST", f"/api/dm/actions?id=retrieve_tasks_predictions&project={project['id']}",
                {"selectedItems": {"all": True, "excluded": []}})
    # the Data Manager's score column averages the predictions of the project's model version
    server.call("PATCH", f"/api/projects/{project['id']}", {"model_version": model_version})
    view = server.call("POST", "/api/dm/views", {"project": project["id"], "data": {
        "title": "by segal's score", "ordering": ["-tasks:predictions_score"],
        "hiddenColumns": {"explore": HIDDEN, "labeling": []}}})
    return f"/projects/{project['id']}/data?tab={view['id']}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs/images/labelstudio_ml_backend.png"))
    args = parser.parse_args()
    modules = node_modules()
    folder = Path(tempfile.mkdtemp(prefix="segal-ml-shot-"))
    root, work = exported_labelstudio_run(folder)
    (folder / "ls").mkdir()
    server = LabelStudio(folder / "ls", root, env={"USE_DEFAULT_BANNED_SUBNETS": "false"})
    backend, url, health = start_backend(root, work)
    try:
        page = sorted_by_score(server, root, work, url, health["model_version"])
        subprocess.run(["node", str(Path(__file__).with_name("screenshot.js")), server.url, USER, PASSWORD, page,
                        args.out], check=True, env={**os.environ, "NODE_PATH": str(modules)})
    finally:
        os.killpg(backend.pid, signal.SIGTERM)
        server.stop()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

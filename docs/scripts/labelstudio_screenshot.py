"""The screenshot of docs/labelstudio.md: a pre-annotated task as Label Studio shows it.

    python docs/scripts/labelstudio_screenshot.py EXPORT_DIR DATA_ROOT [--task 1] [--out PNG]

Starts Label Studio from the tests' own environment (tests/helpers/tool_envs.py)
on a free port, creates a project from EXPORT_DIR (``tools/export.py --to
labelstudio``) with DATA_ROOT served as local files, and has a headless
Chromium (the npm packages ``@sparticuz/chromium`` and ``puppeteer-core``,
installed on first use into ``~/.cache/segal/screenshot``) log in and save
the labelling view of task ``--task`` (rank order).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from helpers.label_studio import PASSWORD, USER, LabelStudio  # noqa: E402

NODE_FOLDER = Path.home() / ".cache" / "segal" / "screenshot"


def node_modules() -> Path:
    if not (NODE_FOLDER / "node_modules" / "puppeteer-core").is_dir():
        NODE_FOLDER.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(NODE_FOLDER), "@sparticuz/chromium", "puppeteer-core"],
                       check=True)
    return NODE_FOLDER / "node_modules"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir")
    parser.add_argument("data_root")
    parser.add_argument("--task", type=int, default=1, help="rank of the task to show")
    parser.add_argument("--out", default=str(REPO / "docs" / "images" / "labelstudio_task.png"),
                        help="the PNG to write (default: docs/images/labelstudio_task.png)")
    args = parser.parse_args()
    export_dir, data_root = Path(args.export_dir), Path(args.data_root).resolve()
    modules = node_modules()
    server = LabelStudio(Path(tempfile.mkdtemp(prefix="segal-ls-")), data_root)
    try:
        config = (export_dir / "label_config.xml").read_text()
        project = server.call("POST", "/api/projects", {"title": "segal: annotation step 1", "label_config": config})
        server.call("POST", "/api/storages/localfiles", {"project": project["id"], "title": "images", "use_blob_urls":
                                                         False, "path": str(data_root / "leftImg8bit")})
        tasks = json.loads((export_dir / "tasks.json").read_text())
        server.call("POST", f"/api/projects/{project['id']}/import", tasks)
        tasks = server.call("GET", f"/api/tasks?project={project['id']}&page_size=100")["tasks"]
        task = next(t for t in tasks if t["data"]["segal_rank"] == args.task)
        subprocess.run(["node", str(Path(__file__).with_name("screenshot.js")), server.url, USER, PASSWORD,
                        f"/projects/{project['id']}/data?tab=1&task={task['id']}", args.out],
                       check=True, env={**os.environ, "NODE_PATH": str(modules)})
    finally:
        server.stop()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

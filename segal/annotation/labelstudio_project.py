"""A Label Studio project kept in step with an annotation run, through the API: set up, push, status, pull.

* :func:`setup_project` creates the project by title (or finds it), gives it
  the labeling config that ``select.py --export labelstudio`` wrote for the
  dataset's classes and mode, and adds a local-files storage for the images.
* :func:`push_tasks` imports an export's ``tasks.json``, with its
  pre-annotations and scores; a task already in the project (the same image
  for the same step) is not imported again.
* :func:`project_status` counts each step's tasks done, skipped and pending.
* :func:`pull_export` exports the project's tasks as JSON, which
  :func:`~segal.annotation.label_import.import_labels` then reads with every
  check of ``import_labels.py``; tasks without a finished annotation stay pending.
"""
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..utils.io import atomic_write_text
from .labelstudio_api import LabelStudioClient, LabelStudioError

#: The data keys that make a task segal's: the image, and the step whose selection asked for it.
TASK_KEY = ("segal_image", "segal_step")


def task_key(data: dict) -> Optional[Tuple[str, int]]:
    """``(image, step)`` of a task segal made; ``None`` for a task from elsewhere."""
    if not all(key in data for key in TASK_KEY):
        return None
    return str(data["segal_image"]), int(data["segal_step"])


def find_project(client: LabelStudioClient, title: str) -> Optional[dict]:
    """The project titled ``title``, or ``None``.

    Raises:
        LabelStudioError: Several projects have that title.
    """
    found = [project for project in client.pages("/api/projects", "results") if project.get("title") == title]
    if len(found) > 1:
        raise LabelStudioError(f"{len(found)} Label Studio projects are titled {title!r} (ids "
                               f"{', '.join(str(p['id']) for p in found)}); rename all but one")
    return found[0] if found else None


def require_project(client: LabelStudioClient, title: str) -> dict:
    """:func:`find_project`, refusing a title no project has."""
    project = find_project(client, title)
    if project is None:
        raise LabelStudioError(f"no Label Studio project is titled {title!r}; create it with "
                               f"'segal-labelstudio setup EXPORT_DIR --project {title!r} --data-root ROOT'")
    return project


@dataclass
class SetupReport:
    """What :func:`setup_project` did."""

    project_id: int
    created: bool = False
    config_updated: bool = False
    storage_added: bool = False


def setup_project(client: LabelStudioClient, title: str, label_config: str, storage_path: Path) -> SetupReport:
    """Creates the project ``title``, or updates its labeling config, and adds a local-files storage at
    ``storage_path`` (absolute, under Label Studio's ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``) if it has none.

    Raises:
        LabelStudioError: Label Studio refused the config (e.g. annotations use a class it drops) or the storage
            (e.g. a path outside its document root); the message gives its reason.
    """
    project = find_project(client, title)
    if project is None:
        project = client.call("POST", "/api/projects", {"title": title, "label_config": label_config})
        report = SetupReport(project["id"], created=True)
    else:
        report = SetupReport(project["id"])
        if project.get("label_config", "").strip() != label_config.strip():
            client.call("PATCH", f"/api/projects/{project['id']}", {"label_config": label_config})
            report.config_updated = True
    storages = client.call("GET", "/api/storages/localfiles", query={"project": report.project_id}) or []
    if not any(Path(storage.get("path", "")) == Path(storage_path) for storage in storages):
        client.call("POST", "/api/storages/localfiles", {
            "project": report.project_id, "title": "segal images", "path": str(storage_path),
            "use_blob_urls": False})
        report.storage_added = True
    return report


def project_tasks(client: LabelStudioClient, project_id: int) -> List[dict]:
    """Every task of the project, with its data and annotation counts."""
    return list(client.pages("/api/tasks", "tasks", query={"project": project_id}))


def push_tasks(client: LabelStudioClient, project_id: int, tasks: List[dict]) -> Tuple[int, int]:
    """Imports the ``tasks`` the project does not hold yet; returns ``(imported, already there)``.

    Raises:
        LabelStudioError: A task is not one of segal's (no ``segal_image``/``segal_step``).
    """
    for position, task in enumerate(tasks):
        if task_key(task.get("data", {})) is None:
            raise LabelStudioError(f"task {position} has no data.segal_image and data.segal_step; push the "
                                   f"tasks.json that select.py --export labelstudio wrote")
    held = {task_key(task.get("data", {})) for task in project_tasks(client, project_id)}
    new = [task for task in tasks if task_key(task["data"]) not in held]
    if new:
        client.call("POST", f"/api/projects/{project_id}/import", new)
    return len(new), len(tasks) - len(new)


@dataclass
class ProjectStatus:
    """Each step's tasks: ``{step: Counter(done=, skipped=, pending=)}``; tasks not from segal under ``None``."""

    by_step: Dict[Optional[int], Counter] = field(default_factory=dict)

    def total(self, state: str) -> int:
        return sum(counts[state] for counts in self.by_step.values())


def task_state(task: dict) -> str:
    """``'done'`` (an annotation was submitted), ``'skipped'`` (only cancelled ones) or ``'pending'``."""
    submitted = int(task.get("total_annotations") or 0)
    cancelled = int(task.get("cancelled_annotations") or 0)
    return "done" if submitted > 0 else "skipped" if cancelled > 0 else "pending"


def project_status(client: LabelStudioClient, project_id: int) -> ProjectStatus:
    status = ProjectStatus()
    for task in project_tasks(client, project_id):
        key = task_key(task.get("data", {}))
        status.by_step.setdefault(None if key is None else key[1], Counter())[task_state(task)] += 1
    return status


def pull_export(client: LabelStudioClient, project_id: int, out: Path) -> int:
    """Writes the project's JSON export (every task, each with its annotations) to ``out``; returns the number of
    tasks with a finished annotation."""
    tasks = client.call("GET", f"/api/projects/{project_id}/export",
                        query={"exportType": "JSON", "download_all_tasks": "true"})
    if not isinstance(tasks, list):
        raise LabelStudioError(f"the export of project {project_id} is not a list of tasks")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(tasks))
    return sum(1 for task in tasks if any(not a.get("was_cancelled") for a in task.get("annotations") or []))

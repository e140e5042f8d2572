"""Keep a Label Studio project in step with an annotation run through its API: setup, push, status, pull.

    python tools/labelstudio.py setup EXPORT_DIR --project TITLE --data-root ROOT [--storage DIR] [--url URL]
    python tools/labelstudio.py push EXPORT_DIR --project TITLE [--url URL]
    python tools/labelstudio.py status --project TITLE [--url URL]
    python tools/labelstudio.py pull --project TITLE --state WORK_DIR/state.json [--data-root ROOT]
                                     [--config CONFIG [--cfg-options ...]] [--overwrite] [--overlap later|refuse]
                                     [--take latest|ground_truth] [--min-agreement IOU] [--out FILE] [--url URL]
    (every subcommand also takes --token TOKEN and --debug)

EXPORT_DIR is what ``select.py --export labelstudio`` wrote (label_config.xml and tasks.json). The server
comes from --url or $LABEL_STUDIO_URL, the personal access token from $LABEL_STUDIO_API_KEY (or --token,
which other users of the machine can see in the process list). The token is never written to a file or
printed.

Installed as the ``segal-labelstudio`` command; ``python tools/labelstudio.py`` runs the same ``main``.
"""
import argparse
import json
import time
from pathlib import Path

from ..cli import add_cfg_options, counted, errors_as_lines, setup_logging, tool_parser
from ..errors import InvalidValue
from .import_labels import add_review_options, print_import_report

EXAMPLE = """examples:
  export LABEL_STUDIO_URL=http://127.0.0.1:8080 LABEL_STUDIO_API_KEY=<personal access token>
  python tools/labelstudio.py setup W/labelstudio_step1 --project my-project --data-root data/cityscapes
  python tools/labelstudio.py push W/labelstudio_step1 --project my-project
  python tools/labelstudio.py status --project my-project
  python tools/labelstudio.py pull --project my-project --state W/state.json
  python tools/train.py CONFIG --work-dir W"""


def build_parser():
    parser = tool_parser("Keep a Label Studio project in step with an annotation run: setup, push, status, pull.",
                         EXAMPLE)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{setup,push,status,pull}")
    setup = _subcommand(commands, "setup", "create or update the project: labeling config and image storage")
    setup.add_argument("export_dir", metavar="EXPORT_DIR", help="select.py --export labelstudio's folder")
    setup.add_argument("--data-root", required=True,
                       help="the dataset folder: Label Studio's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT")
    setup.add_argument("--storage", help="the local-files storage folder (default: the tasks' top image folder "
                                         "under --data-root, e.g. ROOT/leftImg8bit)")
    push = _subcommand(commands, "push", "import a selection's tasks with their pre-annotations (no duplicates)")
    push.add_argument("export_dir", metavar="EXPORT_DIR", help="select.py --export labelstudio's folder")
    _subcommand(commands, "status", "each step's tasks: done, skipped, pending")
    pull = _subcommand(commands, "pull", "export the finished annotations and write them as label files")
    pull.add_argument("--state", help="the annotation run's state.json (checks, and the dataset from its config)")
    pull.add_argument("--data-root", help="the dataset folder (overrides the config's)")
    pull.add_argument("--config", help="config naming the dataset (default: the run's config.json)")
    add_cfg_options(pull)
    pull.add_argument("--overwrite", action="store_true", help="replace label files that exist and differ")
    pull.add_argument("--overlap", choices=["later", "refuse"], default="later",
                      help="where layers of different classes overlap: the later wins (default), or refuse the task")
    add_review_options(pull)
    pull.add_argument("--out", help="where the export is kept (default: WORK_DIR/labelstudio_pulls/...json)")
    return parser


def _subcommand(commands, name: str, description: str):
    parser = commands.add_parser(name, help=description, description=description)
    parser.add_argument("--project", required=True, help="the project's title in Label Studio")
    parser.add_argument("--url", help="the server (default: $LABEL_STUDIO_URL)")
    parser.add_argument("--token", help="a personal access token (default: $LABEL_STUDIO_API_KEY, which is safer)")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="on an error, show the full traceback")
    return parser


def read_export(export_dir: str):
    """``(label config, tasks)`` of a ``select.py --export labelstudio`` folder."""
    folder = Path(export_dir)
    config, tasks = folder / "label_config.xml", folder / "tasks.json"
    for path in (config, tasks):
        if not path.is_file():
            raise InvalidValue(f"{path} not found: EXPORT_DIR is the folder select.py --export labelstudio writes "
                               f"(label_config.xml and tasks.json)")
    try:
        return config.read_text(), json.loads(tasks.read_text())
    except ValueError as err:
        raise InvalidValue(f"{tasks}: not JSON ({err})") from None


def storage_folder(data_root: str, tasks: list) -> Path:
    """The tasks' top image folder under ``data_root`` (Label Studio refuses its document root itself)."""
    images = [Path(task["data"]["segal_image"]) for task in tasks if "segal_image" in task.get("data", {})]
    tops = {image.parts[0] for image in images}
    if len(tops) != 1 or any(len(image.parts) < 2 for image in images):
        raise InvalidValue(f"cannot tell the image folder under {data_root} from the tasks (top folders: "
                           f"{sorted(tops)[:3]}); pass --storage")
    return Path(data_root).resolve() / tops.pop()


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging()
    from segal.annotation.labelstudio_api import LabelStudioClient

    with errors_as_lines(args.debug):
        client = LabelStudioClient.from_environment(args.url, args.token)
        {"setup": _setup, "push": _push, "status": _status, "pull": _pull}[args.command](client, args)


def _setup(client, args) -> None:
    from segal.annotation.labelstudio_project import setup_project

    label_config, tasks = read_export(args.export_dir)
    storage = Path(args.storage).resolve() if args.storage else storage_folder(args.data_root, tasks)
    report = setup_project(client, args.project, label_config, storage)
    print(f"project {args.project!r} (id {report.project_id}): "
          + ", ".join(filter(None, ["created" if report.created else "found",
                                    "labeling config updated" if report.config_updated else "",
                                    f"storage added at {storage}" if report.storage_added else ""])))


def _push(client, args) -> None:
    from segal.annotation.labelstudio_project import push_tasks, require_project

    _, tasks = read_export(args.export_dir)
    project = require_project(client, args.project)
    imported, held = push_tasks(client, project["id"], tasks)
    print(f"pushed {counted(imported, 'task')} to {args.project!r}; {held} already there")


def _status(client, args) -> None:
    from segal.annotation.labelstudio_project import project_status, require_project

    status = project_status(client, require_project(client, args.project)["id"])
    for step in sorted(status.by_step, key=lambda s: (s is None, s or 0)):
        counts = status.by_step[step]
        print(f"{'not from segal' if step is None else f'step {step}'}: {counts['done']} done, "
              f"{counts['skipped']} skipped, {counts['pending']} pending")
    print(f"in all: {status.total('done')} done, {status.total('skipped')} skipped, {status.total('pending')} pending")


def _pull(client, args) -> None:
    from segal.annotation.label_import import import_labels
    from segal.annotation.labelstudio_project import pull_export, require_project
    from segal.utils.run_paths import RunPaths

    if not args.out and not args.state:
        raise InvalidValue("pull needs --state WORK_DIR/state.json (or --out FILE to keep the export elsewhere)")
    project = require_project(client, args.project)
    out = Path(args.out) if args.out else RunPaths(Path(args.state).parent).labelstudio_pull_path(
        f"project{project['id']}_{time.strftime('%Y%m%d_%H%M%S')}")
    finished = pull_export(client, project["id"], out)
    print(f"exported {counted(finished, 'finished task')} of {args.project!r} to {out}")
    report = import_labels(out, "labelstudio", args.data_root, "train", args.state, args.overwrite, args.overlap,
                           args.config, args.cfg_options, args.take, args.min_agreement)
    print_import_report(report, checked_against_run=bool(args.state))

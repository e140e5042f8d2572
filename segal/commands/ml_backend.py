"""Serve an annotation run to Label Studio as an ML backend: pre-annotations, scores to sort by, training on submit.

    segal-ml-backend CONFIG WORK_DIR [--host 127.0.0.1] [--port 9090] [--train-every N] [--max-tasks N]
                     [--max-mb MB] [--score-scale auto|S] [--cfg-options KEY=VALUE ...] [--debug]

Label Studio calls ``/predict`` for the tasks it shows (the run's latest model's prediction as brush layers, and
the config's scorer's score, which the Data Manager sorts by) and ``/webhook`` when an annotation is submitted: its
labels are written through the checks of import_labels.py, and after --train-every new labels the next step
trains in the background (tools/train.py --allow-missing). Connect it in Label Studio under Settings -> Model.

It listens on 127.0.0.1 unless --host says otherwise; on any other address it requires basic auth, with the user
and password from $SEGAL_ML_BACKEND_USER and $SEGAL_ML_BACKEND_PASSWORD (set the same in Label Studio's
connection). Scores are shown multiplied by --score-scale (default auto: the power of ten that brings a checkpoint's
first scores into [1, 10), as /status reports it), so that Label Studio's three decimals tell them apart. Installed
as the ``segal-ml-backend`` command; ``python tools/ml_backend.py`` runs the same main.
"""
import argparse
import os

from ..cli import add_cfg_options, errors_as_lines, setup_logging, tool_parser
from ..errors import InvalidValue

USER_VARIABLE, PASSWORD_VARIABLE = "SEGAL_ML_BACKEND_USER", "SEGAL_ML_BACKEND_PASSWORD"
LOOPBACK = ("127.0.0.1", "localhost", "::1")

EXAMPLE = """examples:
  segal-ml-backend configs/cityscapes/deeplabv3plus-r18_holdout-loss-change_annotation.py work_dirs/my_project \\
      --cfg-options dataset.data_root=data/cityscapes
  # then in Label Studio: Settings -> Model -> Connect Model, URL http://127.0.0.1:9090"""


def build_parser():
    parser = tool_parser("Serve an annotation run to Label Studio as an ML backend.", EXAMPLE)
    parser.add_argument("config", help="the config the run was made with")
    parser.add_argument("work_dir", metavar="WORK_DIR", help="the annotation run's folder (after tools/train.py)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this "
                                                            "machine only; others require basic auth)")
    parser.add_argument("--port", type=int, default=9090, help="port (default: 9090)")
    parser.add_argument("--train-every", type=int, default=10,
                        help="train the next step after this many new labels (default: 10)")
    parser.add_argument("--max-tasks", type=int, default=256, help="most tasks in one /predict call (default: 256)")
    parser.add_argument("--max-mb", type=float, default=32, help="largest request body in MB (default: 32)")
    parser.add_argument("--score-scale", type=score_scale, default="auto",
                        help="multiply the scores by this in the answers; auto (default): the power of ten that "
                             "brings each checkpoint's first scores into [1, 10) (the order never changes)")
    add_cfg_options(parser)
    return parser


def score_scale(text: str):
    """``--score-scale``: ``'auto'`` or a number above 0."""
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected auto or a number above 0, got {text!r}")
    return value


def credentials(host: str):
    """``(user, password)`` from the environment, required off the loopback address; ``None`` when not set."""
    user, password = os.environ.get(USER_VARIABLE), os.environ.get(PASSWORD_VARIABLE)
    if bool(user) != bool(password):
        raise InvalidValue(f"set both {USER_VARIABLE} and {PASSWORD_VARIABLE}, or neither")
    if not user and host not in LOOPBACK:
        raise InvalidValue(f"--host {host} listens beyond this machine: set {USER_VARIABLE} and {PASSWORD_VARIABLE} "
                           f"(and the same basic auth in Label Studio's model connection)")
    return (user, password) if user else None


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging()
    with errors_as_lines(args.debug):
        if args.train_every < 1 or args.max_tasks < 1 or args.max_mb <= 0:
            raise InvalidValue("--train-every and --max-tasks must be at least 1, --max-mb above 0")
        auth = credentials(args.host)
        import uvicorn

        from segal.annotation.ml_backend import AnnotationIntake, RunPredictor
        from segal.annotation.ml_server import create_app
        from segal.config import load_config
        from segal.spec import ExperimentSpec

        cfg = load_config(args.config, args.cfg_options)
        cfg.loop.progress = False
        predictor = RunPredictor(ExperimentSpec(cfg), args.work_dir, args.score_scale)
        intake = AnnotationIntake(args.config, args.work_dir, args.train_every, args.cfg_options)
        waiting = predictor.labels_waiting()
        if intake.resume(waiting):
            print(f"training the next step: {waiting} labels were waiting (log: {intake.log})")
        app = create_app(predictor, intake, auth, int(args.max_mb * 2**20), args.max_tasks)
        print(f"serving {args.work_dir} ({predictor.model_version}) to Label Studio at http://{args.host}:{args.port}")
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")

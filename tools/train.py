"""Run an active-learning experiment: python tools/train.py CONFIG [--work-dir DIR] [--seed N] [--resume]."""

import os
import sys

# Run as a script, this folder leads sys.path; drop it so tools/select.py cannot shadow the standard `select` module.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

from segal.apis import run_experiment
from segal.cli import base_parser, default_work_dir, exit_on_error, setup_logging
from segal.config import load_config

EXPECTED_ERRORS = (ValueError, KeyError, FileNotFoundError, RuntimeError)


def main(argv=None) -> None:
    parser = base_parser("Run an active-learning experiment from a config.")
    parser.add_argument("--seed", type=int, help="run seed (overrides the config's seed)")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in the work dir")
    parser.add_argument("--allow-missing", action="store_true",
                        help="annotation mode: train without selected images whose labels are still missing")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        cfg = load_config(args.config, args.cfg_options)
        if args.seed is not None:
            cfg.seed = args.seed
        run_experiment(cfg, args.work_dir or default_work_dir(args.config), resume=args.resume,
                       allow_missing=args.allow_missing)
    except EXPECTED_ERRORS as err:
        exit_on_error(err)


if __name__ == "__main__":
    main()

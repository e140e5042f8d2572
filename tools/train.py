"""Run an active-learning experiment: python tools/train.py CONFIG [--work-dir DIR] [--seed N] [--resume]."""
from segal.apis import run_experiment
from segal.cli import base_parser, default_work_dir, exit_on_error, setup_logging
from segal.config import load_config

EXPECTED_ERRORS = (ValueError, KeyError, FileNotFoundError, RuntimeError)


def main(argv=None) -> None:
    parser = base_parser("Run an active-learning experiment from a config.")
    parser.add_argument("--seed", type=int, help="run seed (overrides the config's seed)")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in the work dir")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        cfg = load_config(args.config, args.cfg_options)
        if args.seed is not None:
            cfg.seed = args.seed
        run_experiment(cfg, args.work_dir or default_work_dir(args.config), resume=args.resume)
    except EXPECTED_ERRORS as err:
        exit_on_error(err)


if __name__ == "__main__":
    main()

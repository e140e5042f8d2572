"""Run an active-learning experiment from a config.

    python tools/train.py CONFIG [--work-dir DIR] [--seed N] [--resume] [--allow-missing] [--launcher {none,pytorch}]
                          [--cfg-options KEY=VALUE ...] [--import MODULE] [--debug]
    bash tools/dist_train.sh CONFIG NPROC [options as above]

Installed as the ``segal-train`` command; ``python tools/train.py`` runs the same ``main``.
"""
from ..cli import add_launcher, base_parser, default_work_dir, errors_as_lines, setup_logging

EXAMPLE = """example:
  python tools/train.py configs/digits/mlp_holdout-loss-change_imbalanced.py --seed 1
  python tools/train.py CONFIG --work-dir work_dirs/run --resume --cfg-options protocol.num_steps=15
  bash tools/dist_train.sh configs/cityscapes/deeplabv3plus-r18-imagenet_holdout-loss-change_gpu.py 4"""


def build_parser():
    parser = base_parser("Run an active-learning experiment from a config.", EXAMPLE)
    parser.add_argument("--work-dir",
                        help="run folder: state, metrics, checkpoints, log (default: work_dirs/<config name>)")
    parser.add_argument("--seed", type=int, help="run seed (overrides the config's seed)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run saved in the work dir; with a larger protocol.num_steps, extend it")
    parser.add_argument("--allow-missing", action="store_true",
                        help="annotation runs: train without selected images whose labels are still missing")
    add_launcher(parser)
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging()
    from segal.config import load_config
    from segal.plugins import check_run_plugins, load_plugins

    work_dir = args.work_dir or default_work_dir(args.config)
    with errors_as_lines(args.debug):
        load_plugins(args.imports)
        check_run_plugins(work_dir)  # a run made with plugins needs them again, named: nothing comes from its folder
        cfg = load_config(args.config, args.cfg_options)  # a typo is reported before the heavy imports below
        from segal.apis import run_experiment
        from segal.utils.distributed import launched

        if args.seed is not None:
            cfg.seed = args.seed
        with launched(args.launcher, cfg):
            run_experiment(cfg, work_dir, resume=args.resume, allow_missing=args.allow_missing)

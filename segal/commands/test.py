"""Evaluate a checkpoint on the test split.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--show-dir DIR] [--launcher {none,pytorch}]
                         [--cfg-options KEY=VALUE ...] [--import MODULE] [--debug]

Writes DIR/metrics.json, DIR/report.md, DIR/confusion.png and DIR/config.py.

Installed as the ``segal-test`` command; ``python tools/test.py`` runs the same ``main``.
"""
from pathlib import Path

from ..cli import add_launcher, base_parser, beside_checkpoint, errors_as_lines, setup_logging

EXAMPLE = """example:
  python tools/test.py CONFIG work_dirs/run/checkpoints/step_3.pth --show-dir work_dirs/run/test_step_3/show
  -> work_dirs/run/test_step_3/metrics.json, report.md, confusion.png, config.py"""


def build_parser():
    parser = base_parser("Evaluate a checkpoint on the test split: metrics, per-class report, confusion plot.",
                         EXAMPLE)
    parser.add_argument("checkpoint", help="trained weights, e.g. WORK_DIR/checkpoints/step_3.pth")
    parser.add_argument("--work-dir", help="output folder (default: test_<checkpoint name> in the run folder "
                                           "that holds checkpoints/, else beside the checkpoint)")
    parser.add_argument("--show-dir", help="segmentation: one PNG per test image (image | ground truth | "
                                           "prediction, with a class legend) goes here")
    add_launcher(parser)
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging()
    from segal.config import load_config, save_config
    from segal.plugins import check_run_plugins, load_plugins

    out = Path(args.work_dir or beside_checkpoint(args.checkpoint, f"test_{Path(args.checkpoint).stem}"))
    with errors_as_lines(args.debug):
        load_plugins(args.imports)
        check_run_plugins(Path(beside_checkpoint(args.checkpoint, "")))  # the checkpoint's run, if it is in one
        cfg = load_config(args.config, args.cfg_options)  # a typo is reported before the heavy imports below
        from segal.annotation import evaluate_checkpoint
        from segal.utils.distributed import is_main, launched

        with launched(args.launcher, cfg):
            metrics = evaluate_checkpoint(cfg, args.checkpoint, str(out), args.show_dir)
            if not is_main():
                return
        save_config(cfg, out)
    headline = {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}
    print(" ".join(f"{k}={v:.4f}" for k, v in headline.items()))
    print(f"wrote {out / 'metrics.json'}, {out / 'report.md'}, {out / 'confusion.png'}"
          + (f" and predictions in {args.show_dir}" if args.show_dir else ""))

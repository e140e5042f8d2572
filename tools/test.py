"""Evaluate a checkpoint on the test split.

    python tools/test.py CONFIG CHECKPOINT [--out DIR] [--show-dir DIR] [--cfg-options ...]

Writes DIR/metrics.json, DIR/report.md, DIR/confusion.png and DIR/config.py.
"""

import os
import sys

# Run as a script, this folder leads sys.path; drop it so tools/select.py cannot shadow the standard `select` module.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

from pathlib import Path

from segal.cli import base_parser, exit_on_error, setup_logging
from segal.config import load_config, save_config
from segal.evaluation.checkpoint import evaluate_checkpoint

EXPECTED_ERRORS = (ValueError, KeyError, FileNotFoundError, RuntimeError)


def main(argv=None) -> None:
    parser = base_parser("Evaluate a checkpoint on the test split: metrics, per-class report, confusion plot.")
    parser.add_argument("checkpoint")
    parser.add_argument("--out", help="output folder (same as --work-dir; default: <checkpoint folder>/../test)")
    parser.add_argument("--show-dir", help="write image | ground truth | prediction PNGs here (segmentation)")
    args = parser.parse_args(argv)
    setup_logging()
    out = args.out or args.work_dir or str(Path(args.checkpoint).resolve().parent.parent / "test")
    try:
        cfg = load_config(args.config, args.cfg_options)
        metrics = evaluate_checkpoint(cfg, args.checkpoint, out, args.show_dir)
        save_config(cfg, Path(out) / "config.py")
    except EXPECTED_ERRORS as err:
        exit_on_error(err)
    headline = {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}
    print(" ".join(f"{k}={v:.4f}" for k, v in headline.items()))


if __name__ == "__main__":
    main()

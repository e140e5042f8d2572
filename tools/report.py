"""Compare runs: python tools/report.py WORK_DIR [WORK_DIR ...] --out DIR

Writes DIR/curves.png, DIR/report.md and DIR/summary.json. Seeds of one
setting are aggregated; runs on different datasets or step sizes are refused.
"""

import os
import sys

# Run as a script, this folder leads sys.path; drop it so tools/select.py cannot shadow the standard `select` module.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse

from segal.cli import exit_on_error, setup_logging
from segal.reporting.compare import compare_runs

EXPECTED_ERRORS = (ValueError, KeyError, FileNotFoundError)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Compare active-learning runs: curves, tables, summary.")
    parser.add_argument("work_dirs", nargs="+", help="run folders (each with config.py and metrics.jsonl)")
    parser.add_argument("--out", required=True, help="output folder")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        summary = compare_runs(args.work_dirs, args.out)
    except EXPECTED_ERRORS as err:
        exit_on_error(err)
    for name, entry in summary["settings"].items():
        print(f"{name:<40} final {summary['metric']} {entry['mean'][-1]:.4f}  AUC {entry['auc']:.4f}")
    print(f"wrote {args.out}/curves.png, report.md, summary.json")


if __name__ == "__main__":
    main()

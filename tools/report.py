"""Compare active-learning runs: curves, tables and a summary over seeds.

    python tools/report.py WORK_DIR [WORK_DIR ...] --out DIR [--allow-partial] [--debug]

Writes DIR/curves.png, DIR/report.md and DIR/summary.json. Seeds of one
setting are aggregated; runs on different datasets or step sizes are refused,
and so are unfinished runs beside longer ones unless --allow-partial is given.
"""
import os
import sys

# Run as a script, this folder leads sys.path, and tools/select.py would shadow the standard `select` module
# (which subprocess and the data loaders import): drop it before anything else is imported.
if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
    del sys.path[0]

from segal.commands.report import build_parser, main  # noqa: E402,F401  (build_parser: for the --help tests)

if __name__ == "__main__":
    main()

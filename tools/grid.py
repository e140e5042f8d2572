"""Run an experiment grid (scorer x variant x seed) in worker processes, then write its results page.

    python tools/grid.py EXPERIMENT [--workers N] [--work-root DIR] [--results DIR] [--dry-run] [--debug]

Finished runs are skipped and interrupted ones resumed, so the same command
continues a stopped grid. When every run has finished, the runs are compared
(tools/report.py's tables plus paired differences against the baselines) into
RESULTS/<experiment>/ and the experiment's row in RESULTS/README.md gives the
command and the wall time. RESULTS is WORK_ROOT/results unless given: the
shipped pages in docs/results/ change only with --results docs/results.
"""
import os
import sys

# Run as a script, this folder leads sys.path, and tools/select.py would shadow the standard `select` module
# (which subprocess and the data loaders import): drop it before anything else is imported.
if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
    del sys.path[0]

from segal.commands.grid import build_parser, main  # noqa: E402,F401  (build_parser: for the --help tests)

if __name__ == "__main__":
    main()

"""Run an experiment grid (scorer x variant x seed) in worker processes, then write its results page.

    python tools/grid.py EXPERIMENT [--workers N] [--work-root DIR] [--results DIR] [--seeds S,S,...] [--dry-run]
                                [--keep-runs] [--import MODULE] [--debug]

Finished runs are skipped and interrupted ones resumed, so the same command
continues a stopped grid. When every run has finished, the runs are compared
(tools/report.py's tables plus paired differences against the baselines) into
RESULTS/<experiment>/ and the experiment's row in RESULTS/README.md gives the
command and the wall time. RESULTS is WORK_ROOT/results unless given: the
shipped pages in docs/results/ change only with --results docs/results.
--seeds runs a long grid in parts: only those seeds' runs are run, and the page
is written from them; the same command without --seeds finishes the grid.
--keep-runs keeps each finished run's records (no checkpoints) in
RESULTS/<experiment>/runs/ and brings them back into an empty work root, so the
parts of a grid may run on machines whose work roots do not last.

Installed as the ``segal-grid`` command; ``python tools/grid.py`` runs the same ``main``.
"""
import argparse
import os
import shlex
from pathlib import Path

from ..cli import add_plugin_imports, errors_as_lines, setup_logging, tool_parser
from ..errors import InvalidValue

#: Where runs go without --work-root.
WORK_ROOT = "work_dirs/grid"

EXAMPLE = """examples:
  python tools/grid.py configs/experiments/digits_table1.py --workers 2
  -> work_dirs/grid/digits_table1/<scorer>/seed<k>/, work_dirs/grid/results/digits_table1/{report.md,curves.png,...}
  python tools/grid.py configs/experiments/digits_table1.py --workers 2 --results docs/results   # the shipped page
  python tools/grid.py configs/experiments/digits_table1.py --seeds 0,1   # a part: seeds 0 and 1 only"""


def seed_list(text: str) -> list:
    """``'0,1,2'`` -> ``[0, 1, 2]``, for ``--seeds``."""
    try:
        return sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds separated by commas, e.g. 0,1,2; got {text!r}") from None


def build_parser():
    parser = tool_parser("Run an experiment grid in worker processes (resumable), then write its results page.",
                         EXAMPLE)
    parser.add_argument("experiment", help="experiment file, e.g. configs/experiments/digits_table1.py")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help=f"worker processes; each imports segal once and runs many runs (default: one per core, "
                             f"{os.cpu_count() or 1} here)")
    parser.add_argument("--work-root", default=WORK_ROOT,
                        help="runs go to WORK_ROOT/<experiment>/... (default: work_dirs/grid)")
    parser.add_argument("--results", help="results pages go to RESULTS/<experiment>/, the index to RESULTS/README.md "
                                          "(default: WORK_ROOT/results; docs/results refreshes the shipped pages)")
    parser.add_argument("--seeds", type=seed_list, help="run and report only these of the experiment's seeds, "
                                                        "e.g. 0,1,2 (a long grid in parts; default: all)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and what would happen to each")
    parser.add_argument("--keep-runs", action="store_true",
                        help="keep finished runs' records (no checkpoints) in RESULTS/<experiment>/runs/ and bring "
                             "them back into a work root that lacks them (parts of a grid on different machines)")
    add_plugin_imports(parser)
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging()
    from segal.experiments.grid import (
        check_runs,
        load_experiment,
        run_and_report,
        run_has_started,
        run_is_finished,
    )
    from segal.experiments.kept_runs import sync_kept_runs
    from segal.plugins import load_plugins
    from segal.utils.progress import format_seconds

    results = args.results or str(Path(args.work_root) / "results")
    command = f"python tools/grid.py {Path(args.experiment).as_posix()} --workers {args.workers}" + (
        f" --work-root {Path(args.work_root).as_posix()}" if args.work_root != WORK_ROOT else "") + (
        f" --results {Path(args.results).as_posix()}" if args.results else "") + (
        f" --seeds {','.join(map(str, args.seeds))}" if args.seeds else "") + (" --keep-runs" if args.keep_runs else "")
    with errors_as_lines(args.debug):
        load_plugins(args.imports)
        if args.workers < 1:
            raise InvalidValue(f"--workers must be >= 1, got {args.workers}")
        experiment = load_experiment(args.experiment, args.work_root)
        if args.seeds:
            experiment = experiment.part(args.seeds)
        every_run = experiment.all_runs
        if args.keep_runs and not args.dry_run:
            back = sync_kept_runs(every_run, results, experiment.name, args.work_root)
            print(f"brought back {len(back)} finished runs from {Path(results) / experiment.name / 'runs'}")
        finished = [run for run in every_run if run_is_finished(run.work_dir)]
        confirming = f" ({len(experiment.confirm_runs)} on the confirmation seeds)" if experiment.confirm_runs else ""
        print(f"{experiment.name}: {len(every_run)} runs{confirming}, {len(finished)} finished; {experiment.title}")
        if args.dry_run:
            check_runs(every_run, datasets=False)
            for run in every_run:
                state = "finished" if run in finished else "resume" if run_has_started(run.work_dir) \
                    else "start"
                print(f"  {state:<9} {run.label:<45} {run.work_dir}")
            return
        summary = run_and_report(experiment, args.workers, args.work_root, results, command, args.keep_runs)
    print(f"wrote {Path(results) / experiment.name}/report.md, its curves and summary.json; "
          f"{len(summary['settings'])} settings (wall time {format_seconds(summary['wall_seconds'])}, "
          f"command: {shlex.quote(command)})")

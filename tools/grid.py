"""Run an experiment grid (scorer x variant x seed) in worker processes, then write its results page.

    python tools/grid.py EXPERIMENT [--workers N] [--work-root DIR] [--results DIR] [--dry-run] [--debug]

Finished runs are skipped and interrupted ones resumed, so the same command
continues a stopped grid. When every run has finished, the runs are compared
(tools/report.py's tables plus paired differences against the baselines) into
RESULTS/<experiment>/ and the experiment's row in RESULTS/README.md gives the
command and the wall time.
"""

import os
import sys

# Run as a script, this folder leads sys.path; drop it so tools/select.py cannot shadow the standard `select` module.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import shlex
import time
from pathlib import Path

from segal.cli import USER_ERRORS, exit_on_error, setup_logging, tool_parser

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = """example:
  python tools/grid.py configs/experiments/digits_table1.py --workers 2
  -> work_dirs/grid/digits_table1/<scorer>/seed<k>/, docs/results/digits_table1/{report.md,curves.png,summary.json}"""


def build_parser():
    parser = tool_parser("Run an experiment grid in worker processes (resumable), then write its results page.",
                         EXAMPLE)
    parser.add_argument("experiment", help="experiment file, e.g. configs/experiments/digits_table1.py")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="worker processes; each imports segal once and runs many runs (default: one per core)")
    parser.add_argument("--work-root", default="work_dirs/grid", help="runs go to WORK_ROOT/<experiment>/...")
    parser.add_argument("--results", default=str(REPO / "docs/results"),
                        help="results pages go to RESULTS/<experiment>/, the index to RESULTS/README.md")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and what would happen to each")
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging()
    from segal.experiments.grid import load_experiment, run_grid, run_is_finished
    from segal.experiments.index import accumulate_wall_time, has_row, record_experiment
    from segal.reporting.compare import compare_runs
    from segal.utils.progress import format_seconds

    try:
        experiment = load_experiment(args.experiment, args.work_root, REPO)
        if args.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {args.workers}")
        finished = [run for run in experiment.runs if run_is_finished(run.work_dir)]
        print(f"{experiment.name}: {len(experiment.runs)} runs, {len(finished)} finished; {experiment.title}")
        if args.dry_run:
            for run in experiment.runs:
                state = "finished" if run in finished else ("resume" if (run.work_dir / "config.json").is_file()
                                                             else "start")
                print(f"  {state:<9} {run.label:<45} {run.work_dir}")
            return
        todo = [run for run in experiment.runs if run not in finished]
        started, done, failures = time.perf_counter(), len(finished), []

        def report(outcome):
            nonlocal done
            if outcome.status == "failed":
                failures.append(outcome)
                print(f"  failed {outcome.run.label}: {outcome.error}", flush=True)
                return
            done += 1
            elapsed = time.perf_counter() - started
            left = elapsed / (done - len(finished)) * (len(experiment.runs) - done - len(failures))
            print(f"  [{done}/{len(experiment.runs)}] {outcome.run.label}: final {outcome.final:.4f} in "
                  f"{outcome.seconds:.0f}s (elapsed {format_seconds(elapsed)}, about {format_seconds(left)} left)",
                  flush=True)

        run_grid(todo, args.workers, report)
        wall = accumulate_wall_time(Path(args.work_root) / experiment.name / "wall_time.json",
                                    time.perf_counter() - started)
        if failures:
            raise RuntimeError(f"{len(failures)} runs failed (listed above); fix the cause and rerun the same "
                               f"command: finished runs are skipped")
        out = Path(args.results) / experiment.name
        summary = compare_runs([str(run.work_dir) for run in experiment.runs], str(out))
        command = f"python tools/grid.py {Path(args.experiment).as_posix()} --workers {args.workers}"
        if todo or not has_row(Path(args.results) / "README.md", experiment.name):  # a rerun that ran nothing
            workers = f"{args.workers} worker{'s' if args.workers > 1 else ''}"     # keeps the row that did the work
            record_experiment(Path(args.results) / "README.md", experiment.name, experiment.title, command,
                              len(experiment.runs), f"{format_seconds(wall)} ({workers}, {os.cpu_count()} cores)")
    except USER_ERRORS as err:
        exit_on_error(err, args.debug)
    print(f"wrote {out}/report.md, curves.png, summary.json; {len(summary['settings'])} settings "
          f"(wall time {format_seconds(wall)}, command: {shlex.quote(command)})")


if __name__ == "__main__":
    main()

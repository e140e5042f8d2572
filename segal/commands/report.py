"""Compare active-learning runs: curves, tables and a summary over seeds.

    python tools/report.py WORK_DIR [WORK_DIR ...] --out DIR [--allow-partial] [--debug]

Writes DIR/curves.png, DIR/report.md and DIR/summary.json. Seeds of one
setting are aggregated; runs on different datasets or step sizes are refused,
and so are unfinished runs beside longer ones unless --allow-partial is given.

Installed as the ``segal-report`` command; ``python tools/report.py`` runs the same ``main``.
"""
from ..cli import errors_as_lines, setup_logging, tool_parser

EXAMPLE = """example:
  python tools/report.py work_dirs/grid/digits_imbalanced/*/seed* --out work_dirs/report_digits"""


def build_parser():
    parser = tool_parser("Compare active-learning runs: curves, tables, summary.", EXAMPLE)
    parser.add_argument("work_dirs", nargs="+", metavar="WORK_DIR",
                        help="run folders (each with config.py and metrics.jsonl)")
    parser.add_argument("--out", required=True, help="output folder for curves.png, report.md and summary.json")
    parser.add_argument("--allow-partial", action="store_true",
                        help="compare unfinished runs with longer ones (marked in the table and dashed on the plot)")
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging()
    from segal.reporting.compare import compare_runs

    with errors_as_lines(args.debug):
        summary = compare_runs(args.work_dirs, args.out, allow_partial=args.allow_partial)
    for name, entry in summary["settings"].items():
        partial = f"  ({len(entry['partial'])} unfinished)" if entry["partial"] else ""
        print(f"{name:<40} final {summary['metric']} {entry['mean'][-1]:.4f}  AUC {entry['auc']:.4f}{partial}")
    print(f"wrote {args.out}/curves.png, report.md, summary.json")

"""Compare active-learning runs: curves, tables and a summary over seeds.

    python tools/report.py WORK_DIR [WORK_DIR ...] --out DIR [--allow-partial] [--x UNIT ...] [--debug]

Writes DIR/curves.png, DIR/report.md and DIR/summary.json. Seeds of one
setting are aggregated; runs on different datasets or step sizes are refused,
and so are unfinished runs beside longer ones unless --allow-partial is given.
With --x (images, regions, clicks, pixels, or seconds: the annotators' times
that annotation runs record from Label Studio), curves and tables are drawn
against that annotation cost instead of the step, so region runs and image
runs compare (DIR/curves_<unit>.png; see segal.reporting.cost_report).

Installed as the ``segal-report`` command; ``python tools/report.py`` runs the same ``main``.
"""
from ..cli import errors_as_lines, setup_logging, tool_parser

EXAMPLE = """examples:
  python tools/report.py work_dirs/grid/digits_imbalanced/*/seed* --out work_dirs/report_digits
  python tools/report.py work_dirs/grid/synthetic_city_regions/*/*/seed* --out work_dirs/regions --x pixels clicks"""


def build_parser():
    parser = tool_parser("Compare active-learning runs: curves, tables, summary.", EXAMPLE)
    parser.add_argument("work_dirs", nargs="+", metavar="WORK_DIR",
                        help="run folders (each with config.py and metrics.jsonl)")
    parser.add_argument("--out", required=True, help="output folder for curves.png, report.md and summary.json")
    parser.add_argument("--allow-partial", action="store_true",
                        help="compare unfinished runs with longer ones (marked in the table and dashed on the plot)")
    parser.add_argument("--x", nargs="+", choices=["images", "regions", "clicks", "pixels", "seconds"],
                        metavar="UNIT", help="draw against the annotation cost in UNIT (images, regions, clicks, "
                                             "pixels, seconds; several allowed) instead of the step: region and "
                                             "image runs side by side")
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging()
    from segal.reporting.compare import compare_runs
    from segal.reporting.cost_report import compare_by_cost

    if args.x:
        with errors_as_lines(args.debug):
            summaries = compare_by_cost(args.work_dirs, args.out, args.x)
        for unit, summary in summaries.items():
            for name, curve in summary["settings"].items():
                print(f"{name:<40} final {summary['metric']} {curve['mean'][-1]:.4f} at {curve['cost'][-1]:,.0f} "
                      f"{unit}")
        print(f"wrote {args.out}/report.md, summary.json, " + ", ".join(f"curves_{u}.png" for u in args.x))
        return
    with errors_as_lines(args.debug):
        summary = compare_runs(args.work_dirs, args.out, allow_partial=args.allow_partial)
    for name, entry in summary["settings"].items():
        partial = f"  ({len(entry['partial'])} unfinished)" if entry["partial"] else ""
        print(f"{name:<40} final {summary['metric']} {entry['mean'][-1]:.4f}  AUC {entry['auc']:.4f}{partial}")
    print(f"wrote {args.out}/curves.png, report.md, summary.json")

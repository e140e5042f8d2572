"""Reads bench_loop.py's and bench_scorers.py's results and says, target by target, which the figures meet.

    python benchmarks/gpu_targets.py --loop LOOP_JSON --scorers SCORERS_JSON [...] [--out TABLE_MD]

The targets are those of the GPU speed work (measured as ratios in one run, on the same device):
  loop training images/s >= 0.8 of the plain bf16 + channels-last step;
  in-loop scoring against plain inference: Entropy <= 1.1x, Ours-app <= 1.5x, exact Ours <= 5x,
  holdout_pixels <= 3x, MC-Dropout and BALD (T=20) <= 3x;
  every 'fast' scorer against float64: Spearman >= 0.999 and the same top-K;
  no DataLoader worker set started twice for the same samples in one stage;
  region passes <= 1.2x their image passes (model-based scorers);
  and, with bench_loop.py --select, that tools/select.py runs on the device and writes its predictions.
Prints a Markdown table (target, measured, met) and, for a missed target, the file that explains it (the
profile bench_loop.py wrote, or select.py's log). Either result may be left out; its targets are then reported as not measured.
"""
import argparse
import json
from pathlib import Path

LOOP_SCORING = [("Entropy", 1.1), ("HoldoutLossChangeApprox", 1.5), ("HoldoutLossChange", 5.0),
                ("HoldoutLossChange holdout_pixels=1/32", 3.0), ("MCDropout T=20", 3.0), ("BALD T=20", 3.0)]


def row(target: str, measured, met, explained_by=None) -> dict:
    """One target: what was measured, whether it is met (``None``: not measured), and a file to read if not."""
    return {"target": target, "measured": measured, "met": met, "explained_by": explained_by}


def loop_rows(loop: dict) -> list:
    """Training speed, in-loop scoring against inference and worker sets, from bench_loop.py's result."""
    ratios, profiles = loop["ratios"], loop.get("profiles", {})
    training = next(value for key, value in ratios.items() if key.startswith("loop training / plain"))
    rows = [row("loop training / plain training step >= 0.8", f"{training:.2f}", training >= 0.8,
                profiles.get("train", {}).get("table"))]
    for scorer, bound in LOOP_SCORING:
        ratio = next((value for key, value in ratios.items() if key.startswith(f"{scorer} scoring, x")), None)
        measured = None if ratio is None else f"{ratio:.2f}"
        rows.append(row(f"{scorer} in the loop <= {bound:g}x inference", measured,
                        None if ratio is None else ratio <= bound, profiles.get(scorer, {}).get("table")))
    repeated = loop["workers"]["repeated_worker_sets"]
    rows.append(row("worker sets started twice for the same samples in one stage: 0",
                    f"{repeated} of {loop['workers']['worker_sets_started']}", repeated == 0))
    if "select" in loop:
        select = loop["select"]
        rows.append(row("tools/select.py --pool --export labelstudio runs and writes a prediction per selection",
                        f"exit {select['returncode']}, {select['pool_images']} images in {select['seconds']:.1f}s, "
                        f"{select['predictions_written']} predictions for {select['selected']} selected",
                        select["returncode"] == 0 and select["predictions_written"] == select["selected"], select["log"]))
    return rows


def scorer_rows(scorers: dict) -> list:
    """Agreement with float64 and region-pass cost, from bench_scorers.py's result."""
    rows = []
    agreeing = [r for r in scorers["rows"] if "spearman_vs_float64" in r and r["scorer"] != "Random"]
    if agreeing:
        failing = [r for r in agreeing if r["spearman_vs_float64"] < 0.999 or r["top_k_overlap"] < 1.0]
        shown = failing or [min(agreeing, key=lambda r: (r["spearman_vs_float64"], r["top_k_overlap"]))]
        measured = "; ".join(f"{r['scorer']} ({r['case']}): {r['spearman_vs_float64']:.5f}, top-K "
                             f"{r['top_k_overlap']:.2f}" for r in shown)
        rows.append(row("'fast' vs float64: Spearman >= 0.999 and the same top-K, every scorer",
                        measured if failing else f"lowest {measured}", not failing))
    # Random runs no model: its passes take milliseconds, and their ratio says nothing about cost.
    regions = [r for r in scorers["rows"] if "region_to_image" in r and r["scorer"] != "Random"]
    if regions:
        worst = max(regions, key=lambda r: r["region_to_image"])
        rows.append(row("region pass <= 1.2x its image pass, every model-based scorer",
                        f"worst {worst['scorer']}: {worst['region_to_image']:.2f}", worst["region_to_image"] <= 1.2))
    return rows


def table(rows: list) -> str:
    def verdict(met):
        return "not measured" if met is None else "met" if met else "**missed**"
    lines = ["| target | measured | |", "|---|---|---|"]
    lines += [f"| {r['target']} | {r['measured'] if r['measured'] is not None else '-'} | {verdict(r['met'])} |"
              for r in rows]
    missed = [r for r in rows if r["met"] is False and r["explained_by"]]
    if missed:
        lines += ["", "To read for the missed targets (profiles, logs):"]
        lines += [f"- {r['target']}: `{r['explained_by']}`" for r in missed]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop", type=Path, help="bench_loop.py's JSON")
    parser.add_argument("--scorers", type=Path, nargs="+", default=[], help="bench_scorers.py's JSON files")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    if not args.loop and not args.scorers:
        parser.error("give --loop, --scorers or both")
    for path in [args.loop, *args.scorers]:
        if path is not None and not path.is_file():
            parser.error(f"{path}: no such file (did its benchmark finish?)")
    rows = loop_rows(json.loads(args.loop.read_text())) if args.loop else []
    results = {path: json.loads(path.read_text()) for path in args.scorers}
    if results:
        rows += scorer_rows({"rows": [r for result in results.values() for r in result["rows"]]})
    text = table(rows)
    for path, result in results.items():
        unfinished = [case for case in result.get("cases", []) if case not in result.get("finished", [])]
        if unfinished:
            text += f"\n{path} stopped before finishing {', '.join(unfinished)}: its rows so far are read.\n"
    print(text, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()

"""Comparing runs against what their labels cost (``tools/report.py --x pixels``): curves and label efficiency.

Runs may buy different amounts per step (whole images against regions):
each setting's curve is drawn at its own mean cost per step (from the
records' ``labelled_<unit>``, :mod:`segal.selection.cost_ledger`).
Settings are the scorer and the mode (``images``, or ``regions`` for runs
with ``dataset.regions``), plus any other config key that differs. Two
tables read the curves across settings:

* **at equal cost**: each run's curve, linearly interpolated between its
  steps, at costs every setting reaches (mean ± std over a setting's runs);
* **label efficiency**: the cost at which a setting's mean curve first reaches
  another setting's final mean value, as a share of that setting's final cost
  (below 100%: the same quality for less).

Writes ``report.md``, ``summary.json`` and ``curves_<unit>.png`` per unit.
"""
import json
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..config import config_differences
from ..utils.io import atomic_write_text
from .compare import IncomparableRuns, Run
from .figures import pyplot, save_figure
from .shared_dataset import data_root_note, dataset_differences

COST_UNITS = ("images", "regions", "clicks", "pixels")
#: Keys that make a run a region run or an image run; the mode names them in a setting's label.
MODE_KEYS = ("dataset.regions", "protocol.budget", "protocol.step_size")
EQUAL_COST_POINTS = 5


def _mode(run: Run) -> str:
    return "regions" if run.config["dataset"].get("regions") else "images"


def group_by_setting(runs: Sequence[Run]) -> "OrderedDict[str, List[Run]]":
    """Runs grouped by scorer, mode and the other config keys that differ; Random settings first.

    Raises:
        IncomparableRuns: Two runs use different datasets beyond their regions.
    """
    first = runs[0]
    differing = set()
    for run in runs[1:]:
        data = [k for k in dataset_differences(first, run) if not k.startswith("regions")]
        if data:
            raise IncomparableRuns(f"{run.work_dir} and {first.work_dir} use different datasets (dataset.{data[0]})")
        differing |= set(config_differences(first.config, run.config)) - {"dataset.data_root"}
    keys = sorted(k for k in differing if not k.startswith(("scorer.", "seed", "work_dir"))
                  and not any(k == m or k.startswith(m + ".") for m in MODE_KEYS))
    groups: Dict[str, List[Run]] = OrderedDict()
    for run in sorted(runs, key=lambda r: (r.scorer != "Random", r.scorer, _mode(r), str(r.work_dir))):
        extra = [f"{k}={_lookup(run.config, k)}" for k in keys]
        groups.setdefault(f"{run.scorer} ({', '.join([_mode(run)] + extra)})", []).append(run)
    return groups


def _lookup(config: dict, dotted: str):
    for part in dotted.split("."):
        config = config.get(part, "<missing>") if isinstance(config, dict) else "<missing>"
    return config


def _costs(run: Run, unit: str) -> List[float]:
    costs = [r.get(f"labelled_{unit}") for r in run.records]
    if any(c is None for c in costs):
        raise IncomparableRuns(f"{run.work_dir}: its records have no labelled_{unit} (runs of segal before cost "
                               f"accounting, classification runs, annotation runs, or regions without "
                               f"dataset.regions); compare them with --x unset")
    return [float(c) for c in costs]


def setting_curve(runs: List[Run], unit: str) -> dict:
    """One setting: mean cost and mean ± std metric per step over its runs (steps that every run reached)."""
    steps = min(len(run.records) for run in runs)
    costs = np.array([_costs(run, unit)[:steps] for run in runs])
    values = np.array([[r[run.metric] for r in run.records[:steps]] for run in runs])
    return {"runs": [str(run.work_dir) for run in runs], "cost": costs.mean(0).tolist(),
            "mean": values.mean(0).tolist(), "std": values.std(0).tolist(),
            "per_run": {"cost": costs.tolist(), "value": values.tolist()}}


def reach_cost(curve: dict, target: float) -> Optional[float]:
    """The cost at which ``curve``'s mean first reaches ``target`` (linear between steps), or ``None``."""
    cost, mean = curve["cost"], curve["mean"]
    for i, value in enumerate(mean):
        if value >= target:
            if i == 0:
                return cost[0]
            fraction = (target - mean[i - 1]) / (value - mean[i - 1])
            return cost[i - 1] + fraction * (cost[i] - cost[i - 1])
    return None


def summarise_costs(groups: "OrderedDict[str, List[Run]]", unit: str) -> dict:
    """Per setting its curve against ``unit``, the equal-cost table and the label-efficiency matrix."""
    curves = OrderedDict((name, setting_curve(runs, unit)) for name, runs in groups.items())
    low = max(c["cost"][0] for c in curves.values())
    high = min(c["cost"][-1] for c in curves.values())
    points = np.linspace(low, high, EQUAL_COST_POINTS).tolist() if high > low else []
    equal = {}
    for name, c in curves.items():  # each run's curve at the points, then mean and std over the runs
        at = np.array([np.interp(points, cost, value) for cost, value in zip(c["per_run"]["cost"],
                                                                             c["per_run"]["value"])])
        equal[name] = {"mean": at.mean(0).tolist() if points else [], "std": at.std(0).tolist() if points else []}
    efficiency = {name: {target: (None if (at := reach_cost(c, t["mean"][-1])) is None else at / t["cost"][-1])
                         for target, t in curves.items()} for name, c in curves.items()}
    metric = next(iter(groups.values()))[0].metric
    return {"unit": unit, "metric": metric, "settings": curves, "equal_cost_points": points,
            "at_equal_cost": equal, "efficiency": efficiency}


def _lines(summary: dict) -> List[str]:
    unit, metric, curves = summary["unit"], summary["metric"], summary["settings"]
    lines = [f"## {metric} against labelled {unit}", "", f"![{metric} against labelled {unit}](curves_{unit}.png)", "",
             f"| setting | runs | final labelled {unit} | final {metric} |", "|---|---|---|---|"]
    for name, c in curves.items():
        lines.append(f"| {name} | {len(c['runs'])} | {c['cost'][-1]:,.0f} | {c['mean'][-1]:.4f} ± {c['std'][-1]:.4f} |")
    points = summary["equal_cost_points"]
    lines += ["", f"### {metric} at equal {unit}", ""]
    if points:
        lines += [f"Each run's curve, linearly interpolated between its steps, at {unit} every setting reaches; "
                  "mean ± std over the runs.", "", "| setting | " + " | ".join(f"{p:,.0f}" for p in points) + " |",
                  "|---" * (len(points) + 1) + "|"]
        lines += [f"| {name} | " + " | ".join(f"{m:.4f} ± {d:.4f}" for m, d in zip(at["mean"], at["std"])) + " |"
                  for name, at in summary["at_equal_cost"].items()]
    else:
        lines.append(f"The settings share no range of labelled {unit}.")
    names = list(curves)
    lines += ["", f"### Label efficiency in {unit}", "",
              f"Row setting's {unit} to reach the column setting's final mean {metric}, as a share of the column "
              "setting's final " + unit + " (linear between steps; — not reached).", "",
              "| setting | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for name in names:
        cells = ["—" if (v := summary["efficiency"][name][t]) is None else f"{v:.0%}" for t in names]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def plot_cost_curves(summary: dict, path: Path) -> None:
    """One panel per scorer (its settings, one series per mode), metric against cost, mean ± std band."""
    plt = pyplot()
    panels: Dict[str, list] = OrderedDict()
    for name, curve in summary["settings"].items():
        panels.setdefault(name.split(" (")[0], []).append((name, curve))
    columns = min(len(panels), 2)
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(7 * columns, 4.2 * rows + 0.6), sharey=True, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (scorer, series) in zip(axes.flat, panels.items()):
        for i, (name, c) in enumerate(series):
            cost, mean, std = np.array(c["cost"]), np.array(c["mean"]), np.array(c["std"])
            ax.plot(cost, mean, marker="o", markersize=3, color=colours[i % len(colours)],
                    label=f"{name} (n={len(c['runs'])})")
            ax.fill_between(cost, mean - std, mean + std, color=colours[i % len(colours)], alpha=0.15)
        ax.set_title(scorer, fontsize=10)
        ax.set_xlabel(f"labelled {summary['unit']}")
        ax.set_ylabel(f"test {summary['metric']}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(f"test {summary['metric']} against labelled {summary['unit']} (mean ± std over seeds)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def compare_by_cost(work_dirs: Sequence[str], out_dir: str, units: Sequence[str], title: str = "") -> dict:
    """Reads the runs and writes ``report.md``, ``summary.json`` and ``curves_<unit>.png`` into ``out_dir``.

    Raises:
        IncomparableRuns: A run lacks the costs, or the runs use different datasets.
        ValueError: An unknown unit.
    """
    bad = [u for u in units if u not in COST_UNITS]
    if bad or not units:
        raise ValueError(f"--x must be among {COST_UNITS}, got {list(units)}")
    runs = [Run(w) for w in work_dirs]
    unfinished = [str(run.work_dir) for run in runs if not run.finished]
    if unfinished:
        raise IncomparableRuns(f"unfinished runs: {', '.join(unfinished[:5])}; finish them (tools/train.py --resume)")
    groups = group_by_setting(runs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summaries = {unit: summarise_costs(groups, unit) for unit in units}
    lines = [f"# {title or 'Active learning against annotation cost'}", "",
             "Mean ± std over seeds (ddof=0); each curve at its setting's mean cost per step. Costs: an image "
             "labelled whole costs its pixels and its polygon vertices (clicks); a region costs its pixels and one "
             "click. Settings: scorer (mode: whole images or regions)."]
    note = data_root_note(runs)
    if note:
        lines += ["", note]
    for unit in units:
        lines += [""] + _lines(summaries[unit])
        plot_cost_curves(summaries[unit], out / f"curves_{unit}.png")
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    atomic_write_text(out / "summary.json", json.dumps(summaries, indent=2))
    return summaries

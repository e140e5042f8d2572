"""Comparing runs against what their labels cost (``tools/report.py --x pixels``): curves and label efficiency.

Runs may buy different amounts per step (whole images against regions):
each setting's curve is drawn at its own mean cost per step (from the
records' ``labelled_<unit>``, :mod:`segal.selection.cost_ledger`).
Settings are the scorer and the mode (``images``, or ``regions`` for runs
with ``dataset.regions``), plus any other config key that differs. Two
tables read the curves across settings:

* **at equal cost**: at the costs every run of the coarsest setting (the one
  that buys most per step) reached at each of its steps, each run's curve linearly interpolated between the
  steps it reached (mean ± std over a setting's runs; none beyond a run's last
  step, and no std for one run): a whole-image run is never read between its
  steps, where it cannot stop;
* **label efficiency**: the cost at which a setting's mean curve first reaches
  another setting's final mean value, as a share of that setting's final cost
  (below 100%: the same quality for less).

and one more reads the selections: each selection's **wrong-pixel share**, the
share of the pixels it bought that the selecting model predicted wrongly (the
records' ``mistake_rate``; in region runs over the bought regions only).

A setting is labelled by its scorer, its mode (whole images, or regions and
how the simulated oracle answers one) and only the other keys that differ.
The figure draws region settings in one panel and image settings in another
(more panels where other keys differ), on shared axes, each scorer in one
colour on every panel.

Writes ``report.md``, ``summary.json`` and ``curves_<unit>.png`` per unit.
"""
import json
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ..config import config_differences
from ..run_mode import RunMode
from ..selection.cost_ledger import REPORT_UNITS
from ..utils.io import atomic_write_text
from .compare import IncomparableRuns, Run
from .figures import pyplot, save_figure
from .shared_dataset import data_root_note, dataset_differences

#: Keys that make a run a region run or an image run, how a region is answered, and how far a run goes (the
#: page reads runs by cost, not by step); the mode names the first two, the third is no setting of its own.
MODE_KEYS = ("dataset.regions", "protocol.budget", "protocol.step_size", "loop.oracle", "protocol.num_steps")


def _mode(run: Run) -> str:
    """``'images'``, ``'regions'`` or ``'regions, exact labels'`` (the simulated oracle's answer to a region)."""
    mode = RunMode.of_config(run.config)
    if not mode.regions:
        return "images"
    return "regions" if mode.trains_on_region_answers in (None, "dominant") else "regions, exact labels"


class Setting(NamedTuple):
    """One setting's runs and what names it: ``'<scorer> (<mode>[, <extra>])'``."""

    runs: List[Run]
    scorer: str
    mode: str
    extra: str


def group_by_setting(runs: Sequence[Run]) -> "OrderedDict[str, Setting]":
    """Runs grouped by scorer, mode and the other config keys that differ (``extra``; scorer options where they
    differ within one scorer and mode); Random settings first.

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
                  and not any(k == m or k.startswith(m + ".") for m in MODE_KEYS)) + _scorer_keys(runs)
    groups: Dict[str, Setting] = OrderedDict()
    for run in sorted(runs, key=lambda r: (r.scorer != "Random", r.scorer, _mode(r), str(r.work_dir))):
        extra = ", ".join(f"{k}={_lookup(run.config, k)}" for k in keys if _lookup(run.config, k) != "<missing>")
        name = f"{run.scorer} ({', '.join(filter(None, [_mode(run), extra]))})"
        groups.setdefault(name, Setting([], run.scorer, _mode(run), extra)).runs.append(run)
    return groups


def _scorer_keys(runs: Sequence[Run]) -> List[str]:
    """The scorer options that differ between runs of one scorer in one mode (``scorer.reduction``): options of
    different scorers, or of one scorer in different modes, say nothing about a setting of their own."""
    alike: Dict[tuple, List[Run]] = {}
    for run in runs:
        alike.setdefault((run.scorer, _mode(run)), []).append(run)
    keys = set()
    for group in alike.values():
        for run in group[1:]:
            keys |= {k for k in config_differences(group[0].config, run.config) if k.startswith("scorer.")}
    return sorted(keys)


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


def _spread(values: np.ndarray) -> Optional[list]:
    """The std over runs (axis 0), or ``None`` for one run: there is no spread to show."""
    return values.std(0).tolist() if len(values) > 1 else None


def setting_curve(runs: List[Run], unit: str) -> dict:
    """One setting: mean cost, mean ± std metric and the selections' wrong-pixel shares per step over its runs
    (steps that every run reached)."""
    steps = min(len(run.records) for run in runs)
    costs = np.array([_costs(run, unit)[:steps] for run in runs])
    values = np.array([[r[run.metric] for r in run.records[:steps]] for run in runs])
    wrong = np.array([[np.nan if r.get("mistake_rate") is None else r["mistake_rate"] for r in run.records[:steps - 1]]
                      for run in runs]).reshape(len(runs), steps - 1)
    wrong_std = _spread(wrong)
    return {"runs": [str(run.work_dir) for run in runs], "cost": costs.mean(0).tolist(),
            "mean": values.mean(0).tolist(), "std": _spread(values),
            "wrong_share": {"mean": _finite(wrong.mean(0)), "std": None if wrong_std is None else _finite(wrong_std)},
            "per_run": {"cost": costs.tolist(), "value": values.tolist()}}


def _finite(values) -> list:
    """``None`` for NaN (a selection some run did not record), as JSON can hold it."""
    return [None if np.isnan(v) else float(v) for v in values]


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


def equal_cost_points(curves: dict) -> List[float]:
    """The costs every run of the coarsest setting (most bought per step) reached at each of its steps (the
    lowest over its runs), from the highest first cost of any setting: where every setting can be read without
    reading a run between two steps it could not stop between."""
    coarsest = max(curves.values(), key=lambda c: (c["cost"][-1] - c["cost"][0]) / max(len(c["cost"]) - 1, 1))
    low = max(c["cost"][0] for c in curves.values())
    return [float(cost) for cost in np.min(coarsest["per_run"]["cost"], axis=0) if cost >= low]


def _at_costs(curve: dict, points: List[float]) -> dict:
    """Each run's curve at ``points``, linear between its steps, then mean and std over the runs; ``None`` where a
    run did not reach the point (std ``None`` for one run)."""
    means, stds = [], []
    for point in points:
        values = [np.interp(point, cost, value) for cost, value in zip(curve["per_run"]["cost"],
                                                                        curve["per_run"]["value"])
                  if cost[0] <= point <= cost[-1]]
        complete = len(values) == len(curve["runs"])
        means.append(float(np.mean(values)) if complete else None)
        stds.append(float(np.std(values)) if complete and len(values) > 1 else None)
    return {"mean": means, "std": stds if len(curve["runs"]) > 1 else None}


def summarise_costs(groups: "OrderedDict[str, Setting]", unit: str) -> dict:
    """Per setting its curve against ``unit``, the equal-cost table and the label-efficiency matrix."""
    curves = OrderedDict((name, {"scorer": setting.scorer, "mode": setting.mode, "extra": setting.extra,
                                 **setting_curve(setting.runs, unit)}) for name, setting in groups.items())
    points = equal_cost_points(curves)
    equal = {name: _at_costs(c, points) for name, c in curves.items()}
    efficiency = {name: {target: (None if (at := reach_cost(c, t["mean"][-1])) is None else at / t["cost"][-1])
                         for target, t in curves.items()} for name, c in curves.items()}
    metric = next(iter(groups.values())).runs[0].metric
    return {"unit": unit, "metric": metric, "settings": curves, "equal_cost_points": points,
            "at_equal_cost": equal, "efficiency": efficiency}


def _value(mean: Optional[float], std: Optional[float], digits: int = 4) -> str:
    """``mean ± std``, ``mean`` alone without a spread (one run), ``—`` where there is no value."""
    if mean is None:
        return "—"
    return f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def _column(values: Optional[list], i: int):
    return None if values is None else values[i]


def _lines(summary: dict) -> List[str]:
    unit, metric, curves = summary["unit"], summary["metric"], summary["settings"]
    lines = [f"## {metric} against labelled {unit}", "", f"![{metric} against labelled {unit}](curves_{unit}.png)", "",
             f"| setting | runs | final labelled {unit} | final {metric} |", "|---|---|---|---|"]
    for name, c in curves.items():
        final = _value(c["mean"][-1], _column(c["std"], -1))
        lines.append(f"| {name} | {len(c['runs'])} | {c['cost'][-1]:,.0f} | {final} |")
    points = summary["equal_cost_points"]
    lines += ["", f"### {metric} at equal {unit}", "",
              f"At the {unit} the coarsest setting reached (its steps), each run's curve linearly interpolated between "
              f"the steps it reached; mean ± std over the runs; — where a run did not get that far.", "",
              "| setting | " + " | ".join(f"{p:,.0f}" for p in points) + " |", "|---" * (len(points) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(_value(m, _column(at["std"], i)) for i, m in enumerate(at["mean"])) + " |"
              for name, at in summary["at_equal_cost"].items()]
    names = list(curves)
    lines += ["", f"### Label efficiency in {unit}", "",
              f"Row setting's {unit} to reach the column setting's final mean {metric}, as a share of the column "
              "setting's final " + unit + " (linear between steps; — not reached).", "",
              "| setting | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for name in names:
        cells = ["—" if (v := summary["efficiency"][name][t]) is None else f"{v:.0%}" for t in names]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def wrong_share_lines(summary: dict) -> List[str]:
    """The table of each selection's wrong-pixel share per setting (mean ± std over runs)."""
    curves = summary["settings"]
    selections = max(len(c["wrong_share"]["mean"]) for c in curves.values())
    lines = ["## Wrong-pixel share of each selection", "",
             "The share of the pixels each selection bought that the selecting model predicted wrongly (the records' "
             "`mistake_rate`; region runs count the bought regions' pixels only); mean ± std over the runs.", "",
             "| setting | " + " | ".join(f"selection {s}" for s in range(1, selections + 1)) + " |",
             "|---" * (selections + 1) + "|"]
    for name, c in curves.items():
        wrong = c["wrong_share"]
        cells = [_value(m, _column(wrong["std"], i), 3) for i, m in enumerate(wrong["mean"])]
        lines.append(f"| {name} | " + " | ".join(cells + ["—"] * (selections - len(cells))) + " |")
    return lines


#: At most this many series share a panel; a mode with more is split by its other differing keys.
SERIES_PER_PANEL = 6


def _setting_keys(curve: dict) -> List[str]:
    """The ``key=value`` parts of a setting's extra that are no scorer option: what splits a crowded panel (the
    scorer's own options stay beside it, in its label)."""
    return [part for part in curve["extra"].split(", ") if part and not part.startswith("scorer.")]


def _panels(settings: dict) -> "OrderedDict[str, List[str]]":
    """Setting names by panel: region settings, then image settings; a mode with more than
    :data:`SERIES_PER_PANEL` settings is split by the other keys that differ, scorer options aside
    (``settings``: name -> its curve)."""
    by_mode: Dict[str, List[str]] = OrderedDict()
    for name in sorted(settings, key=lambda n: not settings[n]["mode"].startswith("regions")):
        by_mode.setdefault(settings[name]["mode"], []).append(name)
    panels: Dict[str, List[str]] = OrderedDict()
    for mode, members in by_mode.items():
        for name in members:
            key = mode if len(members) <= SERIES_PER_PANEL else ", ".join([mode] + _setting_keys(settings[name]))
            panels.setdefault(key, []).append(name)
    return panels


def _series_styles(settings: dict, palette: List[str]) -> Tuple[Dict[str, str], Dict[str, str]]:
    """``(colour, line style)`` by setting name: each scorer in one colour and each other setting in one line style
    on every panel; with one scorer, each setting in its own colour, solid."""
    scorers = list(dict.fromkeys(c["scorer"] for c in settings.values()))
    extras = sorted({c["extra"] for c in settings.values()}, key=lambda extra: (extra != "", extra))
    if len(scorers) == 1:
        return ({name: palette[extras.index(c["extra"]) % len(palette)] for name, c in settings.items()},
                dict.fromkeys(settings, "-"))
    return ({name: palette[scorers.index(c["scorer"]) % len(palette)] for name, c in settings.items()},
            {name: ("-", "--", ":", "-.")[extras.index(c["extra"]) % 4] for name, c in settings.items()})


def plot_cost_curves(summary: dict, path: Path) -> None:
    """Metric against cost, mean ± std band: one panel per mode (split by other differing keys beyond
    :data:`SERIES_PER_PANEL` series), shared axes, styled by :func:`_series_styles`."""
    plt = pyplot()
    settings = summary["settings"]
    panels = _panels(settings)
    columns = min(len(panels), 2)
    rows = -(-len(panels) // columns)
    legend_lines = max(len(names) for names in panels.values()) + 1  # below each panel: its settings and a title
    fig, axes = plt.subplots(rows, columns, figsize=(7 * columns, (4.2 + 0.16 * legend_lines) * rows + 0.6),
                             sharex=True, sharey=True, squeeze=False)
    colour, style = _series_styles(settings, plt.rcParams["axes.prop_cycle"].by_key()["color"])
    for ax, (panel, names) in zip(axes.flat, panels.items()):
        for name in names:
            c = settings[name]
            scorer, extra = c["scorer"], c["extra"]
            cost, mean = np.array(c["cost"]), np.array(c["mean"])
            shown = [part for part in extra.split(", ") if part and part not in panel]
            label = f"{', '.join([scorer] + shown)} (n={len(c['runs'])})"
            ax.plot(cost, mean, marker="o", markersize=3, color=colour[name], linestyle=style[name], label=label)
            if c["std"] is not None:
                std = np.array(c["std"])
                ax.fill_between(cost, mean - std, mean + std, color=colour[name], alpha=0.12)
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("annotation time (s)" if summary["unit"] == "seconds" else f"labelled {summary['unit']}")
        ax.set_ylabel(f"test {summary['metric']}")
        ax.tick_params(labelbottom=True, labelleft=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), title="setting", title_fontsize=7)
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
    bad = [u for u in units if u not in REPORT_UNITS]
    if bad or not units:
        raise ValueError(f"--x must be among {REPORT_UNITS}, got {list(units)}")
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
    lines += [""] + wrong_share_lines(summaries[units[0]])
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    atomic_write_text(out / "summary.json", json.dumps(summaries, indent=2))
    return summaries

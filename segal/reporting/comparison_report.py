"""The comparison of runs as people read it: ``report.md`` (tables, paired differences) and ``curves.png``."""
import json
from collections import OrderedDict
from pathlib import Path
from typing import List

import numpy as np

from ..utils.io import atomic_write_text
from .confirmation import count_verdicts
from .figures import pyplot, save_figure
from .paired import format_difference

#: Annotation steps at which the mistakes found are reported (the paper's Table 1), counted as the paper counts
#: them: step s is the s-th selection, made by the model trained on the initial set and the s - 1 earlier
#: selections, i.e. the record ``step: s - 1`` of metrics.jsonl.
MISTAKE_STEPS = (1, 5, 10)


def _fmt(mean: float, std: float, digits: int = 4) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def write_report(summary: dict, out_dir: Path) -> None:
    """Writes ``report.md`` (the sections below, in order) and ``summary.json``."""
    lines = ["# Active-learning comparison", ""]
    for section in (_overview_lines, _per_step_lines, _mistake_lines, _per_class_lines, _paired_lines,
                    _confirmation_lines):
        lines += section(summary)
    atomic_write_text(out_dir / "report.md", "\n".join(lines) + "\n")
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2, default=lambda v: None))


def _overview_lines(summary: dict) -> List[str]:
    """One row per setting (runs, AUC, final value, labels to reach Random), and what was compared how."""
    metric, settings = summary["metric"], summary["settings"]
    lines = [f"Metric: **{metric}** on the test split, mean ± std over seeds (the population standard deviation, "
             "ddof=0).", "",
             f"| setting | runs | AUC | final {metric} | labels to reach Random's final |", "|---|---|---|---|---|"]
    for name, e in settings.items():
        reach = e.get("labels_to_reach_random")
        reach = "—" if summary["baseline"] is None else ("not reached" if reach is None else str(reach))
        runs = f"{len(e['runs'])}" + (f" ({len(e['partial'])} unfinished)" if e["partial"] else "")
        lines.append(f"| {name} | {runs} | {e['auc']:.4f} | {_fmt(e['mean'][-1], e['std'][-1])} | {reach} |")
    unfinished = [(run, steps) for e in settings.values() for run, steps in e["steps"].items() if run in e["partial"]]
    if unfinished:
        lines += ["", "**Unfinished runs** (each step is averaged over the runs that reached it): "
                  + ", ".join(f"`{run}` ({done} of {planned} steps)" for run, (done, planned) in unfinished) + "."]
    cut = {run: length for e in settings.values() for run, length in e["cut"].items()}
    if cut:
        common = len(next(e for e in settings.values() if e["cut"])["mean"])
        lines += ["", f"**Runs of different lengths** are compared over their first {common} steps (step 0 to "
                  f"{common - 1}); longer runs: "
                  + ", ".join(f"`{run}` ({length} steps)" for run, length in cut.items()) + "."]
    for note in summary.get("notes", []):
        lines += ["", note]
    if summary["baseline"] is not None:
        n_labelled = _n_labelled(settings)
        per_setting = (" (each setting is measured against Random with the same other settings where the runs "
                       "have it)" if len({e.get("random_setting") for e in settings.values()}) > 1 else "")
        auc_steps = summary["auc_steps"]
        auc_range = (f", over the steps every setting reaches (0 to {auc_steps - 1}, {n_labelled[0]} to "
                     f"{n_labelled[auc_steps - 1]} labels)" if auc_steps < len(n_labelled) else "")
        lines += ["", f"Random's final mean {metric}: {summary['target']:.4f}{per_setting}. AUC is the mean {metric} "
                      f"over the labelled range (trapezoid rule){auc_range}."]
    return lines


def _n_labelled(settings: dict) -> List[int]:
    """Labels at each step, from the longest setting."""
    return max((e["n_labelled"] for e in settings.values()), key=len)


def _per_step_lines(summary: dict) -> List[str]:
    metric, settings = summary["metric"], summary["settings"]
    names = list(settings)
    lines = ["", f"## {metric} per annotation step", "",
             "Step 0 is the model trained on the initial set; step s, the model trained after the s-th selection "
             "was labelled.", "",
             "| step | labelled | " + " | ".join(names) + " |", "|---" * (len(names) + 2) + "|"]
    for i, n in enumerate(_n_labelled(settings)):
        lines.append(f"| {i} | {n} | " + " | ".join(
            _fmt(settings[k]["mean"][i], settings[k]["std"][i]) if i < len(settings[k]["mean"]) else "—"
            for k in names) + " |")
    return lines


def _mistake_lines(summary: dict) -> List[str]:
    settings = summary["settings"]
    lines = ["", "## Mistakes found per selection (the paper's Table 1)", "",
             "Fraction of the ids chosen at annotation step s that the selecting model predicted wrongly (pixels, "
             "for segmentation). Annotation step s is the s-th selection, as the paper counts: it is made by the "
             "model trained on the initial set and the s - 1 earlier selections (the record `step: s - 1` in "
             "metrics.jsonl).", "",
             "| setting | " + " | ".join(f"annotation step {s}" for s in MISTAKE_STEPS) + " |",
             "|---" * (len(MISTAKE_STEPS) + 1) + "|"]
    for name, entry in settings.items():
        rates = entry["mistake_rate"]
        cells = [_fmt(rates[str(s)]["mean"], rates[str(s)]["std"], 3) if str(s) in rates else "—"
                 for s in MISTAKE_STEPS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + _ceiling_lines(settings)


def _per_class_lines(summary: dict) -> List[str]:
    """Segmentation: each class's IoU at the last step, with the gain over Random where there is one."""
    settings = summary["settings"]
    if summary["metric"] != "mIoU":
        return []
    names = list(settings)
    with_gain = summary["baseline"] is not None
    lines = ["", "## Per-class IoU at the last step" + (" (gain over Random)" if with_gain else ""), "",
             "| class | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for c in settings[names[0]]["per_class_iou_last"]:
        cells = []
        for name in names:
            value = settings[name]["per_class_iou_last"][c]
            gain = settings[name].get("per_class_iou_gain", {}).get(c)
            shown_gain = f" ({gain:+.4f})" if gain is not None and np.isfinite(gain) else ""
            cells.append("n/a" if not np.isfinite(value) else f"{value:.4f}{shown_gain}")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return lines


def _ceiling_lines(settings: "OrderedDict[str, dict]") -> List[str]:
    """The mistake-ceiling table of report.md (classification runs that record ``pool_mistakes``)."""
    if not any(e.get("available_mistakes") for e in settings.values()):
        return []
    lines = ["", "### How many mistakes there were to find", "",
             "Per selection, the candidates its model predicted wrongly (mean over seeds), the best rate a selection "
             "of that size could reach (min(k, wrong) / k), and the share of those mistakes the selection found. A "
             "rate near its ceiling means the pool had run out of mistakes, not that the scorer failed.", "",
             "| setting | " + " | ".join(f"annotation step {s}" for s in MISTAKE_STEPS) + " |",
             "|---" * (len(MISTAKE_STEPS) + 1) + "|"]
    for name, entry in settings.items():
        cells = []
        for step in MISTAKE_STEPS:
            c = entry.get("available_mistakes", {}).get(str(step))
            cells.append("—" if c is None else f"{c['available']:.0f} wrong, ceiling {c['ceiling']:.0%}, found "
                         + ("—" if c["found"] is None else f"{c['found']:.1%}"))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _paired_lines(summary: dict) -> List[str]:
    """The paired-differences section of report.md."""
    rows = summary["paired"]
    if not rows:
        return []
    metric = summary["metric"]
    lines = ["", "## Paired differences across seeds", "",
             "Setting minus baseline, seed by seed (runs with the same seed share the initial set, holdout and test "
             "split): mean ± standard error of the mean, and in brackets the seeds where the setting is higher. "
             "`*`: within two standard errors, not distinguishable from seed-to-seed noise. Mistake rates in "
             "percentage points.", "",
             f"| setting | baseline | final {metric} | AUC | "
             + " | ".join(f"mistakes, step {s}" for s in MISTAKE_STEPS) + " |", "|---" * (4 + len(MISTAKE_STEPS)) + "|"]
    for row in rows:
        cells = [format_difference(row["final"]), format_difference(row["auc"])]
        cells += [format_difference(row["mistake_rate"][str(s)], digits=1, scale=100) for s in MISTAKE_STEPS]
        lines.append(f"| {row['setting']} | {row['baseline']} | " + " | ".join(cells) + " |")
    return lines


#: How each verdict reads in the confirmation table.
VERDICT_MARKS = {"confirmed": "confirmed", "not confirmed": "**not confirmed**", "confirmation only":
                 "confirmation only", "noise": "noise", None: "n/a"}


def _seed_span(seeds: List[int]) -> str:
    """``0–29`` for a contiguous run of seeds, else the list."""
    seeds = sorted(seeds)
    if seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _confirmation_lines(summary: dict) -> List[str]:
    """Each paired difference on the confirmation seeds, with its verdict; the findings and the unconfirmed."""
    confirmation = summary.get("confirmation")
    if not confirmation:
        return []
    discovery_seeds = sorted({s for e in summary["settings"].values() for s in e["seeds"]})
    metric = summary["metric"]
    counts = count_verdicts(confirmation)
    lines = ["", "## Confirmation on fresh seeds", "",
             f"Every table above comes from the discovery seeds ({_seed_span(discovery_seeds)}). The grid ran again "
             f"on the confirmation seeds ({_seed_span(confirmation['seeds'])}); the table below gives each paired "
             f"difference there and its verdict. {confirmation['rule']} Verdicts: `confirmed` (beyond two SE on both "
             "sets, same sign), `not confirmed` (beyond two SE on the discovery seeds only, or opposite signs), "
             "`confirmation only` (beyond two SE on the confirmation seeds only: a lead, not a finding), `noise` "
             "(inside two SE on both).", "",
             "On this page: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".", "",
             f"| setting | baseline | final {metric} | AUC | "
             + " | ".join(f"mistakes, step {s}" for s in MISTAKE_STEPS) + " |", "|---" * (4 + len(MISTAKE_STEPS)) + "|"]
    for row in confirmation["rows"]:
        cells = [_confirmed_cell(row["final"]), _confirmed_cell(row["auc"])]
        cells += [_confirmed_cell(row["mistake_rate"][str(s)], digits=1, scale=100) if str(s) in row["mistake_rate"]
                  else "—" for s in MISTAKE_STEPS]
        lines.append(f"| {row['setting']} | {row['baseline']} | " + " | ".join(cells) + " |")
    return lines


def _confirmed_cell(cell: dict, digits: int = 4, scale: float = 1.0) -> str:
    return f"{format_difference(cell['confirmation'], digits, scale)}: {VERDICT_MARKS[cell['verdict']]}"


#: Series per panel at most: more settings are drawn as small multiples, each panel with the baseline for reference.
SERIES_PER_PANEL = 6


def plot_curves(summary: dict, path: Path) -> None:
    """Metric against labelled samples, mean ± std band per setting.

    Up to :data:`SERIES_PER_PANEL` settings share one panel; more are split
    into panels of that many (a scorer's settings together where they fit),
    each repeating the first setting (Random when the runs have it) in grey,
    on a shared y axis.
    """
    plt = pyplot()
    settings = list(summary["settings"].items())
    baseline, others = (settings[0], settings[1:]) if len(settings) > SERIES_PER_PANEL else (None, settings)
    groups = _panels(others, SERIES_PER_PANEL - (baseline is not None))
    columns = min(len(groups), 2)
    rows = -(-len(groups) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(7 * columns, 4.2 * rows + 0.6), sharey=True, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, group in zip(axes.flat, groups):
        if baseline is not None:
            _draw_setting(ax, *baseline, colour="0.45")
        for i, (name, entry) in enumerate(group):
            _draw_setting(ax, name, entry, colour=colours[i % len(colours)])
        ax.set_xlabel("labelled samples")
        ax.set_ylabel(summary["metric"])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    fig.suptitle(f"{summary['dataset']}, {summary['protocol']}: test {summary['metric']} (mean ± std over seeds)",
                 fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def _panels(settings: list, size: int) -> List[list]:
    """Settings packed into panels of at most ``size``, keeping a scorer's settings together where they fit."""
    by_scorer = OrderedDict()
    for name, entry in settings:
        by_scorer.setdefault(name.split(" (")[0], []).append((name, entry))
    panels = [[]]
    for group in by_scorer.values():
        for start in range(0, len(group), size):
            part = group[start:start + size]
            if len(panels[-1]) + len(part) > size:
                panels.append([])
            panels[-1].extend(part)
    return [panel for panel in panels if panel]


def _draw_setting(ax, name: str, entry: dict, colour) -> None:
    """One setting's mean curve and its ± std band; unfinished runs dashed."""
    n, mean, std = np.array(entry["n_labelled"]), np.array(entry["mean"]), np.array(entry["std"])
    label = f"{name} (n={len(entry['runs'])}" + (f", {len(entry['partial'])} unfinished)" if entry["partial"] else ")")
    ax.plot(n, mean, marker="o", markersize=3, color=colour, linestyle="--" if entry["partial"] else "-", label=label)
    ax.fill_between(n, mean - std, mean + std, color=colour, alpha=0.15)

"""Comparing runs (``tools/report.py``): curves, tables and a summary over seeds.

Runs are grouped by scorer and by every other config entry that differs
between runs (seeds of one setting are aggregated). Runs are comparable when
they share the dataset and the number of labelled samples at every step.
"""
import json
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
from mmengine.config import Config

from ..config import config_differences
from ..utils import atomic_write_text
from .records import read_metrics

# config keys that never make runs different settings
IGNORED_KEYS = {"seed", "work_dir", "loop.progress", "loop.num_workers", "train.num_workers", "device"}
MISTAKE_STEPS = (1, 5, 10)  # metrics.jsonl steps: the mistake rate of the selection made by that step's model


class IncomparableRuns(ValueError):
    """The runs differ in dataset or in step sizes."""


class Run:
    """One work dir: its config and its step records."""

    def __init__(self, work_dir):
        self.work_dir = Path(work_dir)
        for name in ("config.py", "metrics.jsonl"):
            if not (self.work_dir / name).is_file():
                raise FileNotFoundError(f"{self.work_dir} is not a segal run: {name} is missing")
        self.config = Config.fromfile(str(self.work_dir / "config.py")).to_dict()
        self.records = read_metrics(self.work_dir / "metrics.jsonl")
        if not self.records:
            raise ValueError(f"{self.work_dir / 'metrics.jsonl'} has no records yet")
        self.metric = "mIoU" if "mIoU" in self.records[0] else "accuracy"

    @property
    def scorer(self) -> str:
        return self.config["scorer"]["type"]

    @property
    def n_labelled(self) -> List[int]:
        return [r["n_labelled"] for r in self.records]


def _setting_label(run: Run, differing: Sequence[str]) -> str:
    """``Scorer`` or ``Scorer (key=value, ...)`` for the keys that distinguish settings."""
    parts = []
    for key in differing:
        value = run.config
        for part in key.split("."):
            value = value.get(part, "<missing>") if isinstance(value, dict) else "<missing>"
        parts.append(f"{key}={value}")
    return run.scorer + (f" ({', '.join(parts)})" if parts else "")


def group_runs(runs: Sequence[Run]) -> "OrderedDict[str, List[Run]]":
    """Checks the runs are comparable and groups them by setting.

    Raises:
        IncomparableRuns: two runs use different datasets or label counts per step.
    """
    first = runs[0]
    for run in runs[1:]:
        if config_differences(first.config["dataset"], run.config["dataset"]):
            raise IncomparableRuns(
                f"{run.work_dir} uses dataset {run.config['dataset']}, {first.work_dir} uses {first.config['dataset']}"
            )
        if run.n_labelled != first.n_labelled:
            raise IncomparableRuns(
                f"{run.work_dir} labels {run.n_labelled} per step, {first.work_dir} labels {first.n_labelled}"
            )
    differing = set()
    for run in runs[1:]:
        differing |= set(config_differences(first.config, run.config))
    differing = sorted(k for k in differing if k not in IGNORED_KEYS and not k.startswith("scorer."))
    groups: Dict[str, List[Run]] = OrderedDict()
    for run in sorted(runs, key=lambda r: (r.scorer != "Random", r.scorer, str(r.work_dir))):
        groups.setdefault(_setting_label(run, differing), []).append(run)
    return groups


def _mean_over_range(values: np.ndarray, n: np.ndarray) -> float:
    """Area under the curve divided by the labelled range: the curve's mean value (trapezoid rule)."""
    if len(n) < 2:
        return float(values[0])
    return float(((values[1:] + values[:-1]) / 2 * np.diff(n)).sum() / (n[-1] - n[0]))


def summarise(groups: "OrderedDict[str, List[Run]]") -> dict:
    """Per setting: the metric per step (mean, std), label efficiency, area under the curve, mistake rates."""
    metric = next(iter(groups.values()))[0].metric
    summary = {"metric": metric, "settings": OrderedDict()}
    for name, runs in groups.items():
        values = np.array([[r[metric] for r in run.records] for run in runs])  # [seeds, steps]
        n = np.array(runs[0].n_labelled, dtype=float)
        mean = values.mean(0)
        entry = {
            "runs": [str(run.work_dir) for run in runs],
            "seeds": [run.config.get("seed") for run in runs],
            "n_labelled": runs[0].n_labelled,
            "mean": mean.tolist(),
            "std": values.std(0).tolist(),
            "auc": _mean_over_range(mean, n),
            "mistake_rate": {},
        }
        for step in MISTAKE_STEPS:
            rates = [run.records[step].get("mistake_rate") for run in runs if len(run.records) > step]
            rates = [r for r in rates if r is not None]
            if rates:
                entry["mistake_rate"][str(step)] = {"mean": float(np.mean(rates)), "std": float(np.std(rates))}
        if metric == "mIoU":
            classes = list(runs[0].records[-1]["per_class_iou"])
            last = np.array([[np.nan if run.records[-1]["per_class_iou"][c] is None else run.records[-1]["per_class_iou"][c]
                              for c in classes] for run in runs])
            entry["per_class_iou_last"] = dict(zip(classes, np.nanmean(last, 0).tolist()))
        summary["settings"][name] = entry
    baseline = next((name for name in summary["settings"] if name.split(" (")[0] == "Random"), None)
    summary["baseline"] = baseline
    if baseline is not None:
        target = summary["settings"][baseline]["mean"][-1]
        summary["target"] = target
        for name, entry in summary["settings"].items():
            reached = [n for n, m in zip(entry["n_labelled"], entry["mean"]) if m >= target]
            entry["labels_to_reach_random"] = reached[0] if reached else None
            if metric == "mIoU":
                base = summary["settings"][baseline]["per_class_iou_last"]
                entry["per_class_iou_gain"] = {c: v - base[c] for c, v in entry["per_class_iou_last"].items()}
    return summary


def _fmt(mean: float, std: float, digits: int = 4) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def write_report(summary: dict, out_dir: Path) -> None:
    """Writes ``report.md`` and ``summary.json``."""
    metric, settings = summary["metric"], summary["settings"]
    names = list(settings)
    n_labelled = next(iter(settings.values()))["n_labelled"]
    lines = ["# Active-learning comparison", "", f"Metric: **{metric}** on the test split, mean ± std over seeds.", ""]
    lines += ["| setting | runs | AUC | final " + metric + " | labels to reach Random's final |", "|---|---|---|---|---|"]
    for name in names:
        e = settings[name]
        reach = e.get("labels_to_reach_random")
        reach = "—" if summary["baseline"] is None else ("not reached" if reach is None else str(reach))
        lines.append(f"| {name} | {len(e['runs'])} | {e['auc']:.4f} | {_fmt(e['mean'][-1], e['std'][-1])} | {reach} |")
    if summary["baseline"] is not None:
        lines += ["", f"Random's final mean {metric}: {summary['target']:.4f}. AUC is the mean {metric} over the labelled range (trapezoid rule)."]
    lines += ["", f"## {metric} per step", "", "| labelled | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for i, n in enumerate(n_labelled):
        lines.append(f"| {n} | " + " | ".join(_fmt(settings[k]["mean"][i], settings[k]["std"][i]) for k in names) + " |")
    lines += ["", "## Mistake-selection rate", "",
              "Fraction of the ids selected by the model of step s that it predicted wrongly (pixels, for "
              "segmentation); step 10 is empty when it is the last step.", "",
              "| setting | " + " | ".join(f"step {s}" for s in MISTAKE_STEPS) + " |", "|---" * (len(MISTAKE_STEPS) + 1) + "|"]
    for name in names:
        rates = settings[name]["mistake_rate"]
        cells = [_fmt(rates[str(s)]["mean"], rates[str(s)]["std"], 3) if str(s) in rates else "—" for s in MISTAKE_STEPS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if metric == "mIoU":
        classes = list(settings[names[0]]["per_class_iou_last"])
        with_gain = summary["baseline"] is not None
        lines += ["", "## Per-class IoU at the last step" + (" (gain over Random)" if with_gain else ""), "",
                  "| class | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for c in classes:
            cells = []
            for name in names:
                value = settings[name]["per_class_iou_last"][c]
                gain = settings[name].get("per_class_iou_gain", {}).get(c)
                cells.append("n/a" if not np.isfinite(value) else f"{value:.4f}" + (f" ({gain:+.4f})" if gain is not None and np.isfinite(gain) else ""))
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
    atomic_write_text(out_dir / "report.md", "\n".join(lines) + "\n")
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2, default=lambda v: None))


def plot_curves(summary: dict, path: Path) -> None:
    """Metric against labelled samples, mean ± std band per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, e in summary["settings"].items():
        n, mean, std = np.array(e["n_labelled"]), np.array(e["mean"]), np.array(e["std"])
        ax.plot(n, mean, marker="o", markersize=3, label=f"{name} (n={len(e['runs'])})")
        ax.fill_between(n, mean - std, mean + std, alpha=0.15)
    ax.set_xlabel("labelled samples")
    ax.set_ylabel(summary["metric"])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def compare_runs(work_dirs: Sequence[str], out_dir: str) -> dict:
    """Reads the runs, writes ``curves.png``, ``report.md`` and ``summary.json`` into ``out_dir``."""
    if not work_dirs:
        raise ValueError("give at least one work dir")
    runs = [Run(w) for w in work_dirs]
    summary = summarise(group_runs(runs))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_report(summary, out)
    plot_curves(summary, out / "curves.png")
    return summary

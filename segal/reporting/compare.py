"""Comparing runs (``tools/report.py``): curves, tables and a summary over seeds.

Runs are grouped by scorer and by every other config entry that differs
between runs (seeds of one setting are aggregated). Runs are comparable when
they share the dataset and the number of labelled samples at every step.
Steps are counted as the paper counts them: step 0 is the initial set, and
annotation step s is the s-th selection. Each Ours-family setting is compared
with every other setting seed by seed (:mod:`.paired`).
"""
import re
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from ..config import IDENTITY_EXCLUDED, config_differences
from ..errors import InvalidValue, SegalError
from .comparison_report import MISTAKE_STEPS, plot_curves, write_report
from .confirmation import confirm_pairs
from .paired import comparison_pairs, paired_difference
from .runs import Run
from .shared_dataset import data_root_note, dataset_differences

MISSING = object()


class IncomparableRuns(SegalError, ValueError):
    """The runs differ in dataset or in step sizes, or unfinished runs would be compared with finished ones."""



def _setting_label(run: Run, differing: Sequence[str]) -> str:
    """``Scorer`` or ``Scorer (key=value, ...)`` for the keys that distinguish settings."""
    parts = []
    for key in differing:
        value = run.config
        for part in key.split("."):
            value = value.get(part, MISSING) if isinstance(value, dict) else MISSING
        if value is not MISSING:  # a key the run leaves at its default does not name the setting
            parts.append(f"{key}={value}")
    return run.scorer + (f" ({', '.join(parts)})" if parts else "")


def _check_partial(runs: Sequence[Run], allow_partial: bool) -> None:
    """Refuses unfinished runs beside runs of another length unless ``allow_partial``."""
    partial = [run for run in runs if not run.finished]
    if not partial or allow_partial or len({len(run.records) for run in runs}) == 1:
        return
    listing = ", ".join(f"{run.work_dir} ({len(run.records)} of {run.planned_steps} steps)" for run in partial)
    raise IncomparableRuns(
        f"unfinished runs: {listing}. Finish them with python tools/train.py CONFIG --work-dir DIR --resume, "
        f"or pass --allow-partial to compare them with the others anyway"
    )


def cut_to_common_length(runs: Sequence[Run]) -> None:
    """Cuts finished runs of different lengths to the shortest finished one's steps.

    Runs extended with more steps (or planned longer) are compared with the
    others over the steps they share, so curves, finals and AUCs cover the same labels.
    """
    finished = [run for run in runs if run.finished]
    if not finished:
        return
    common = min(run.length for run in finished)
    for run in finished:
        if run.length > common:
            run.truncate(common)


def group_runs(runs: Sequence[Run], allow_partial: bool = False) -> "OrderedDict[str, List[Run]]":
    """Checks the runs are comparable and groups them by setting.

    Args:
        runs: The runs to compare.
        allow_partial: Compare unfinished runs with runs of another length
            (each step is averaged over the runs that reached it).

    Raises:
        IncomparableRuns: two runs use different datasets or label counts per
            step, or an unfinished run would be compared with a longer one
            without ``allow_partial``.
    """
    cut_to_common_length(runs)
    _check_partial(runs, allow_partial)
    first = runs[0]
    for run in runs[1:]:
        differing = dataset_differences(first, run)
        if differing:
            shown = "; ".join(f"dataset.{key}: {_value(run.config['dataset'], key)!r} against "
                              f"{_value(first.config['dataset'], key)!r}" for key in differing[:3])
            raise IncomparableRuns(f"{run.work_dir} and {first.work_dir} use different datasets ({shown}"
                                   + (f"; {len(differing) - 3} more keys" if len(differing) > 3 else "") + ")")
        common = min(len(run.n_labelled), len(first.n_labelled))
        if run.n_labelled[:common] != first.n_labelled[:common]:
            hint = ("; region runs buy different images per step: compare them with --x pixels or --x clicks"
                    if run.config["dataset"].get("regions") else "")
            raise IncomparableRuns(
                f"{run.work_dir} labels {run.n_labelled} per step, {first.work_dir} labels {first.n_labelled}{hint}"
            )
    differing = set()
    for run in runs[1:]:
        # a data root that differs here holds the same images (checked above): annotation runs' own label copies
        differing |= set(config_differences(first.config, run.config)) - {"dataset.data_root"}
    # the keys left out of a run's identity never make runs different settings (runs of different lengths are
    # compared over their common steps)
    differing = sorted(k for k in differing if not k.startswith("scorer.")
                       and not any(k == key or k.startswith(key + ".") for key in IDENTITY_EXCLUDED))
    groups: Dict[str, List[Run]] = OrderedDict()
    labelled = [(_setting_label(run, differing), run) for run in runs]
    for label, run in sorted(labelled, key=lambda item: (item[1].scorer != "Random", item[1].scorer,
                                                         _natural_order(item[0]), str(item[1].work_dir))):
        groups.setdefault(label, []).append(run)
    return groups


def _value(config: dict, dotted: str):
    """The value at a dotted key of a plain config dict, or ``'<missing>'``."""
    for part in dotted.split("."):
        config = config.get(part, "<missing>") if isinstance(config, dict) else "<missing>"
    return config


def _natural_order(label: str) -> tuple:
    """Sorts ``'X (h=0.5)'`` before ``'X (h=2.0)'`` and a plain ``'X'`` first."""
    return tuple((0, float(part)) if re.fullmatch(r"\d+(\.\d+)?", part) else (1, part)
                 for part in re.split(r"(\d+(?:\.\d+)?)", label) if part)


def _mean_over_range(values: np.ndarray, n: np.ndarray) -> float:
    """Area under the curve divided by the labelled range: the curve's mean value (trapezoid rule)."""
    if len(n) < 2:
        return float(values[0])
    return float(((values[1:] + values[:-1]) / 2 * np.diff(n)).sum() / (n[-1] - n[0]))


def summarise(groups: "OrderedDict[str, List[Run]]") -> dict:
    """Per setting: the metric per step (mean, std), label efficiency, area under the curve, mistake rates."""
    first = next(iter(groups.values()))[0]
    metric = first.metric
    summary = {"metric": metric, "dataset": first.config["dataset"]["type"],
               "protocol": first.config["protocol"]["type"], "settings": OrderedDict()}
    for name, runs in groups.items():
        summary["settings"][name] = _setting_entry(runs, metric)
    # every setting's AUC over the same labels: the steps that all settings' mean curves reach
    steps = summary["auc_steps"] = min(len(e["mean"]) for e in summary["settings"].values())
    for entry in summary["settings"].values():
        entry["auc"] = _mean_over_range(np.array(entry["mean"][:steps]), np.array(entry["n_labelled"][:steps], float))
    summary["paired"] = paired_comparisons(summary["settings"])
    _against_random(summary)
    return summary


def _setting_entry(runs: List[Run], metric: str) -> dict:
    """One setting's runs aggregated: the metric per step, per-seed quantities, mistake rates and ceilings."""
    longest = max(runs, key=lambda run: len(run.records))
    values = np.full((len(runs), len(longest.records)), np.nan)  # [seeds, steps]; NaN after a run's last step
    for row, run in enumerate(runs):
        values[row, : len(run.records)] = [r[metric] for r in run.records]
    entry = {
        "runs": [str(run.work_dir) for run in runs],
        "seeds": [run.config.get("seed") for run in runs],
        "n_labelled": longest.n_labelled,
        "mean": np.nanmean(values, 0).tolist(),
        "std": np.nanstd(values, 0).tolist(),
        "runs_per_step": np.isfinite(values).sum(0).tolist(),
        "partial": [str(run.work_dir) for run in runs if not run.finished],
        "steps": {str(run.work_dir): [len(run.records), run.planned_steps] for run in runs},
        "cut": {str(run.work_dir): run.length for run in runs if run.length > len(run.records)},
        "mistake_rate": {},
    }
    entry["per_seed"] = {run.config.get("seed"): _run_quantities(run, metric) for run in runs}
    for step in MISTAKE_STEPS:
        rates = [q["mistake_rate"].get(str(step)) for q in entry["per_seed"].values()]
        rates = [r for r in rates if r is not None]
        if rates:
            entry["mistake_rate"][str(step)] = {"mean": float(np.mean(rates)), "std": float(np.std(rates))}
        ceilings = [q["available_mistakes"][str(step)] for q in entry["per_seed"].values()
                    if str(step) in q["available_mistakes"]]
        if ceilings:
            entry.setdefault("available_mistakes", {})[str(step)] = {
                key: float(np.mean([c[key] for c in ceilings if c[key] is not None]))
                if any(c[key] is not None for c in ceilings) else None for key in ("available", "ceiling", "found")}
    if metric == "mIoU":
        complete = [run for run in runs if len(run.records) == len(longest.records)]
        classes = list(longest.records[-1]["per_class_iou"])
        last = np.array([[np.nan if (iou := run.records[-1]["per_class_iou"][c]) is None else iou for c in classes]
                         for run in complete])
        with warnings.catch_warnings():  # a class no run has a value for stays NaN, without a warning
            warnings.simplefilter("ignore", RuntimeWarning)
            entry["per_class_iou_last"] = dict(zip(classes, np.nanmean(last, 0).tolist()))
    return entry


def _against_random(summary: dict) -> None:
    """The baseline (Random), and per setting the labels it needs to reach Random's final value (and, for
    segmentation, its per-class gain), against Random with the same other settings where the runs have it."""
    randoms = [name for name in summary["settings"] if name.split(" (")[0] == "Random"]
    baseline = next((name for name in randoms if name == "Random"), randoms[0] if randoms else None)
    summary["baseline"] = baseline
    if baseline is None:
        return
    summary["target"] = summary["settings"][baseline]["mean"][-1]
    for name, entry in summary["settings"].items():
        suffix = name.partition(" ")[2]
        own = next((r for r in randoms if r.partition(" ")[2] == suffix), baseline)
        target = summary["settings"][own]["mean"][-1]
        reached = [n for n, m in zip(entry["n_labelled"], entry["mean"]) if m >= target]
        entry["random_setting"] = own
        entry["labels_to_reach_random"] = reached[0] if reached else None
        if summary["metric"] == "mIoU":
            base = summary["settings"][own]["per_class_iou_last"]
            entry["per_class_iou_gain"] = {c: v - base[c] for c, v in entry["per_class_iou_last"].items()}


def _run_quantities(run: Run, metric: str) -> dict:
    """One run's final metric (``None`` if unfinished), AUC and mistake rate at each annotation step of
    :data:`MISTAKE_STEPS` (the record ``step: s - 1``; ``None`` where that selection was not made)."""
    values = np.array([r[metric] for r in run.records], dtype=float)
    rates, available = {}, {}
    for step in MISTAKE_STEPS:
        record = run.records[step - 1] if len(run.records) >= step else {}
        if record.get("mistake_rate") is not None:
            rates[str(step)] = float(record["mistake_rate"])
            if "pool_mistakes" in record:
                available[str(step)] = mistake_ceiling(record)
    return {"final": float(values[-1]) if run.finished else None,
            "auc": _mean_over_range(values, np.array(run.n_labelled, dtype=float)) if run.finished else None,
            "mistake_rate": rates, "available_mistakes": available}


def mistake_ceiling(record: dict) -> dict:
    """What a selection could have found: the candidates its model got wrong, the best rate possible, the share found.

    Args:
        record: A step record with ``selected_ids``, ``mistake_rate`` and ``pool_mistakes``.

    Returns:
        ``available`` (wrong candidates), ``ceiling`` (``min(k, available) / k`` for a selection of ``k``) and
        ``found`` (the share of the available mistakes the selection holds; ``None`` when none were available).
    """
    k, available = len(record["selected_ids"]), record["pool_mistakes"]
    found = record["mistake_rate"] * k
    return {"available": available, "ceiling": min(k, available) / k,
            "found": found / available if available else None}


def paired_comparisons(settings: "OrderedDict[str, dict]") -> List[dict]:
    """Paired differences across seeds (final metric, AUC, mistake rates) for :func:`comparison_pairs`."""
    names = list(settings)
    scorer_of = {name: name.split(" (")[0] for name in names}
    rows = []
    for name, baseline in comparison_pairs(names, scorer_of):
        mine, theirs = settings[name]["per_seed"], settings[baseline]["per_seed"]
        row = {"setting": name, "baseline": baseline}
        for quantity in ("final", "auc"):
            row[quantity] = paired_difference({s: q[quantity] for s, q in mine.items()},
                                              {s: q[quantity] for s, q in theirs.items()})
        row["mistake_rate"] = {
            str(step): paired_difference({s: q["mistake_rate"].get(str(step)) for s, q in mine.items()},
                                         {s: q["mistake_rate"].get(str(step)) for s, q in theirs.items()})
            for step in MISTAKE_STEPS}
        rows.append(row)
    return rows


def _confirmation(summary: dict, confirm_runs: List[Run], allow_partial: bool) -> dict:
    """The discovery summary's paired comparisons on the confirmation runs (:func:`confirm_pairs`)."""
    seeds = {seed for entry in summary["settings"].values() for seed in entry["seeds"]}
    confirm_seeds = {run.config.get("seed") for run in confirm_runs}
    if seeds & confirm_seeds:
        raise IncomparableRuns(f"the confirmation runs reuse seeds {sorted(seeds & confirm_seeds)[:5]} of the "
                               f"discovery runs; a confirmation needs fresh seeds")
    settings = summarise(group_runs(confirm_runs, allow_partial))["settings"]
    return confirm_pairs(summary["paired"], settings, sorted(confirm_seeds))


def compare_runs(work_dirs: Sequence[str], out_dir: str, allow_partial: bool = False,
                 confirm_dirs: Sequence[str] = ()) -> dict:
    """Reads the runs, writes ``curves.png``, ``report.md`` and ``summary.json`` into ``out_dir``.

    Args:
        work_dirs: Run folders (the discovery seeds: every table and curve comes from them).
        out_dir: Output folder.
        allow_partial: Compare unfinished runs with longer ones (see :func:`group_runs`).
        confirm_dirs: The same settings on a disjoint seed set; with them, each paired difference is
            recomputed there and given a verdict (:mod:`.confirmation`), under ``summary["confirmation"]``.

    Raises:
        IncomparableRuns: See :func:`group_runs`; also when the confirmation runs share a seed with the others.
    """
    if not work_dirs:
        raise InvalidValue("give at least one work dir")
    runs = [Run(w) for w in work_dirs]
    summary = summarise(group_runs(runs, allow_partial))
    note = data_root_note(runs)
    if note:
        summary["notes"] = [note]
    if confirm_dirs:
        summary["confirmation"] = _confirmation(summary, [Run(w) for w in confirm_dirs], allow_partial)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_report(summary, out)
    plot_curves(summary, out / "curves.png")
    return summary

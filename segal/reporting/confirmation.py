"""Findings that survive a second seed set: each paired difference, checked on seeds the first set did not use.

A page that compares a dozen settings on three quantities will show some
pairs beyond two standard errors by chance. The guard used here is
replication: the grid runs again on a disjoint confirmation seed set, and a
difference counts as a finding only when it lies beyond two standard errors,
with the same sign, on both sets. Each comparison gets one verdict:

- ``confirmed``: beyond two SE on both sets, same direction;
- ``not confirmed``: beyond two SE on the discovery seeds only (or the
  confirmation set points the other way);
- ``confirmation only``: beyond two SE on the confirmation seeds only (a lead
  for a further run, not a finding);
- ``noise``: inside two SE on both sets.
"""
from typing import Dict, List, Optional

from ..errors import InvalidValue
from .paired import paired_difference

#: The verdicts, strongest first.
VERDICTS = ("confirmed", "not confirmed", "confirmation only", "noise")

#: How a results page states its rule.
RULE = ("A paired difference is stated as a finding only when it lies beyond two standard errors, in the same "
        "direction, on both the discovery seeds and the disjoint confirmation seeds (replication on fresh seeds, "
        "instead of a correction over the page's comparisons).")


def _beyond(result: dict) -> bool:
    return result["within_2se"] is False


def verdict(discovery: dict, confirmation: dict) -> Optional[str]:
    """One comparison's verdict from its paired differences on the two seed sets.

    Args:
        discovery: :func:`~segal.reporting.paired.paired_difference` on the discovery seeds.
        confirmation: The same on the confirmation seeds.

    Returns:
        One of :data:`VERDICTS`, or ``None`` where either set has no standard error (fewer than 2 seeds).
    """
    if discovery["within_2se"] is None or confirmation["within_2se"] is None:
        return None
    first, second = _beyond(discovery), _beyond(confirmation)
    if first and second:
        same_sign = (discovery["mean"] > 0) == (confirmation["mean"] > 0)
        return "confirmed" if same_sign else "not confirmed"
    if first:
        return "not confirmed"
    return "confirmation only" if second else "noise"


def _per_seed(settings: dict, name: str, quantity: str, step: Optional[str] = None) -> Dict[int, float]:
    per_seed = settings[name]["per_seed"]
    if step is None:
        return {seed: q[quantity] for seed, q in per_seed.items()}
    return {seed: q[quantity].get(step) for seed, q in per_seed.items()}


def confirm_pairs(paired: List[dict], confirm_settings: dict, confirm_seeds: List[int]) -> dict:
    """The discovery page's paired comparisons recomputed on the confirmation runs, with a verdict each.

    Args:
        paired: The discovery summary's ``paired`` rows (setting, baseline, final, auc, mistake_rate per step).
        confirm_settings: The confirmation runs' ``settings`` (as :func:`~segal.reporting.compare.summarise`
            makes them), with the same setting names.
        confirm_seeds: The confirmation seeds, for the page.

    Returns:
        ``rule``, ``seeds`` and ``rows``: per discovery row, ``setting``, ``baseline`` and for each quantity
        (``final``, ``auc``, ``mistake_rate`` per step) ``{"confirmation": paired difference, "verdict": ...}``.

    Raises:
        InvalidValue: A setting of the discovery page has no runs on the confirmation seeds.
    """
    missing = sorted({name for row in paired for name in (row["setting"], row["baseline"])} - set(confirm_settings))
    if missing:
        raise InvalidValue(f"settings {missing} have no runs on the confirmation seeds; the two seed sets must run "
                           f"the same settings")
    rows = []
    for row in paired:
        a, b = row["setting"], row["baseline"]
        out = {"setting": a, "baseline": b}
        for quantity in ("final", "auc"):
            second = paired_difference(_per_seed(confirm_settings, a, quantity),
                                       _per_seed(confirm_settings, b, quantity))
            out[quantity] = {"confirmation": second, "verdict": verdict(row[quantity], second)}
        out["mistake_rate"] = {}
        for step, first in row["mistake_rate"].items():
            second = paired_difference(_per_seed(confirm_settings, a, "mistake_rate", step),
                                       _per_seed(confirm_settings, b, "mistake_rate", step))
            out["mistake_rate"][step] = {"confirmation": second, "verdict": verdict(first, second)}
        rows.append(out)
    return {"rule": RULE, "seeds": sorted(confirm_seeds), "rows": rows}


def count_verdicts(confirmation: dict) -> Dict[str, int]:
    """How many comparisons of the page got each verdict."""
    counts = {v: 0 for v in VERDICTS}
    for row in confirmation["rows"]:
        cells = [row["final"], row["auc"], *row["mistake_rate"].values()]
        for cell in cells:
            if cell["verdict"] is not None:
                counts[cell["verdict"]] += 1
    return counts

"""Paired differences across seeds: does a scorer beat a baseline by more than the seed-to-seed noise?

Runs of two settings with the same seed share the initial set, the holdout
and the test split (the protocol is drawn from the seed), so the difference
of a quantity between them, seed by seed, removes the variation the split
causes. Its mean over seeds and the standard error of that mean say whether
a gap is larger than the noise.
"""
import math
from typing import Dict, List, Sequence

import numpy as np

#: The paper's method and its first-order form; the report compares each of their settings with every other.
OURS_FAMILY = ("HoldoutLossChange", "HoldoutLossChangeApprox")


def paired_difference(values: Dict[int, float], baseline: Dict[int, float]) -> dict:
    """The mean over shared seeds of ``values[seed] - baseline[seed]``, with its standard error.

    Args:
        values: Per seed, the quantity for the scorer.
        baseline: Per seed, the same quantity for the baseline.

    Returns:
        ``n`` (shared seeds with both values), ``mean``, ``se`` (sample standard
        deviation / sqrt(n); NaN for fewer than 2 seeds), ``wins`` (seeds where
        the scorer is higher) and ``within_2se`` (``|mean| <= 2 se``: the
        difference is not distinguishable from noise; ``None`` without an SE).
    """
    seeds = sorted(s for s in set(values) & set(baseline) if values[s] is not None and baseline[s] is not None)
    diffs = np.array([values[s] - baseline[s] for s in seeds], dtype=float)
    n = len(diffs)
    mean = float(diffs.mean()) if n else float("nan")
    se = float(diffs.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    within = None if not math.isfinite(se) else bool(abs(mean) <= 2 * se)
    return {"n": n, "mean": mean, "se": se, "wins": int((diffs > 0).sum()), "within_2se": within}


def _suffix(setting: str) -> str:
    """What distinguishes a setting besides its scorer: ``'(lr=0.1)'`` of ``'Entropy (lr=0.1)'``, or ``''``."""
    return setting.partition(" ")[2]


def comparison_pairs(settings: Sequence[str], scorer_of: Dict[str, str]) -> List[tuple]:
    """``(setting, baseline)`` pairs to compare.

    Each setting of the Ours family is compared with every other setting that
    shares its other config values (the same suffix, e.g. the same holdout
    size in an ablation), that has none (the plain baselines), or that has the
    same scorer (its own other settings). Without an Ours-family setting,
    every setting is compared with Random's setting of the same suffix (or
    the plain one).
    """
    ours = [s for s in settings if scorer_of[s] in OURS_FAMILY]
    if ours:
        return [(a, b) for a in ours for b in settings if b != a and (
            _suffix(b) in ("", _suffix(a)) or scorer_of[b] == scorer_of[a])]
    pairs = []
    for a in settings:
        randoms = [b for b in settings if scorer_of[b] == "Random" and b != a and scorer_of[a] != "Random"]
        same = [b for b in randoms if _suffix(b) == _suffix(a)] or [b for b in randoms if not _suffix(b)]
        pairs += [(a, b) for b in same]
    return pairs


def format_difference(result: dict, digits: int = 4, scale: float = 1.0) -> str:
    """``+0.0123 ± 0.0040 (8/10)``: mean ± standard error, seeds where the scorer is higher; ``*`` within 2 SE."""
    if not result["n"]:
        return "—"
    se = "n/a" if not math.isfinite(result["se"]) else f"{result['se'] * scale:.{digits}f}"
    mark = " *" if result["within_2se"] else ""
    return f"{result['mean'] * scale:+.{digits}f} ± {se} ({result['wins']}/{result['n']}){mark}"

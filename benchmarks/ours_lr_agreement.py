"""Ours' learning rate and step count against its agreement with Ours-app, on real step-0 models.

    python benchmarks/ours_lr_agreement.py [--runs work_dirs/grid] [--seeds 0 1 ... 9]

Ours-app (eq. 10) is the first-order form of Ours (eq. 3): for a small enough step, l_v(theta_x) - l_v(theta)
is lr * steps times its score plus O(lr^2), so the two rank the pool alike; a larger step leaves that
regime. This script rebuilds step 0 of the ``holdout-loss-change`` runs of the digits grids (balanced and
imbalanced; run ``tools/grid.py configs/experiments/digits_{balanced,imbalanced}.py`` first) and scores every
candidate with Ours-app and with Ours at each learning rate and step count, all in float64-exact precision.
Per setting it prints, averaged over the seeds: the Spearman correlation with Ours-app, how much of the
step-size selection (top k) the two share, and the share of that selection the step-0 model predicts
wrongly (the Table 1 quantity at annotation step 1; the step-0 model of Ours and Ours-app is the same run's).
Writes benchmarks/results/ours_lr_agreement.json.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from segal.experiments.replay import ReplayedStep, replay_grid_step
from segal.scorers import HoldoutLossChange, HoldoutLossChangeApprox
from segal.scorers.checks import NonFiniteScores

RESULTS = Path(__file__).resolve().parent / "results"
LEARNING_RATES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
STEP_COUNTS = (1, 3, 10)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores, ties to the lower position (as ``Scorer.select``)."""
    return np.argsort(-scores, kind="stable")[:k]


def agreement(replayed: ReplayedStep) -> dict:
    """Per (lr, steps): Spearman with Ours-app, shared share of the top k, mistake rate of Ours' top k."""
    ctx = replayed.ctx
    k = len(replayed.record["selected_ids"])
    candidates = ctx.pool.candidate_ids()
    truth = ctx.dataset.labels[candidates]
    predicted = ctx.predicted_classes(candidates)
    approx = HoldoutLossChangeApprox(precision="exact").score_ids(ctx, candidates)
    approx_top = top_k(approx, k)
    rows = {"Ours-app": {"spearman": 1.0, "top_k_shared": 1.0,
                         "top_k_mistake_rate": float(np.mean(predicted[approx_top] != truth[approx_top]))}}
    for lr in LEARNING_RATES:
        for steps in STEP_COUNTS:
            try:
                scores = HoldoutLossChange(steps=steps, lr=lr, precision="exact").score_ids(ctx, candidates)
            except NonFiniteScores:  # the head's SGD diverged: no ranking to compare
                rows[f"lr {lr:g}, {steps} steps"] = dict.fromkeys(("spearman", "top_k_shared", "top_k_mistake_rate"),
                                                                  float("nan"))
                continue
            top = top_k(scores, k)
            rows[f"lr {lr:g}, {steps} steps"] = {
                "spearman": float(spearmanr(scores, approx)[0]),
                "top_k_shared": float(len(np.intersect1d(top, approx_top)) / k),
                "top_k_mistake_rate": float(np.mean(predicted[top] != truth[top])),
            }
    return rows


def summary(values) -> dict:
    """Mean and min over the seeds whose scores were finite, how many diverged, and every seed's value."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return {"mean": float(finite.mean()) if len(finite) else None, "min": float(finite.min()) if len(finite) else None,
            "diverged": int((~np.isfinite(values)).sum()),
            "per_seed": [round(float(v), 4) if np.isfinite(v) else None for v in values]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="work_dirs/grid")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    args = parser.parse_args()
    result = {}
    for protocol in ("balanced", "imbalanced"):
        started = time.perf_counter()
        per_seed = []
        for seed in args.seeds:
            try:
                replayed = replay_grid_step(args.runs, f"digits_{protocol}", "holdout-loss-change", seed)
            except FileNotFoundError as err:
                raise SystemExit(str(err)) from None
            per_seed.append(agreement(replayed))
        result[protocol] = {
            setting: {metric: summary([s[setting][metric] for s in per_seed]) for metric in per_seed[0][setting]}
            for setting in per_seed[0]}
        print(f"{protocol} (seeds {args.seeds}, {time.perf_counter() - started:.0f}s): mean (min) over seeds")
        print(f"  {'setting':<22} {'Spearman vs Ours-app':>22} {'top-k shared':>14} {'top-k mistakes':>16}  diverged")
        for setting, metrics in result[protocol].items():
            spearman = metrics["spearman"]
            if spearman["mean"] is None:
                print(f"  {setting:<22} {'diverged':>23} {'-':>14} {'-':>16}  {spearman['diverged']}/{len(args.seeds)}")
                continue
            print(f"  {setting:<22} {spearman['mean']:>+14.4f} ({spearman['min']:+.3f})"
                  f" {metrics['top_k_shared']['mean']:>14.2f} {metrics['top_k_mistake_rate']['mean']:>16.2f}"
                  f"  {spearman['diverged']}/{len(args.seeds)}")
    out = RESULTS / "ours_lr_agreement.json"
    out.write_text(json.dumps({"seeds": args.seeds, "learning_rates": LEARNING_RATES, "step_counts": STEP_COUNTS,
                               **result}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Why BALD's ranking runs opposite to Entropy's on imbalanced pools: its two terms on real step-0 models.

    python benchmarks/bald_vs_entropy.py [--runs work_dirs/grid] [--seeds 0 1 2 3 4]

Reads the step-0 checkpoints of the BALD runs of the digits grids (balanced and imbalanced; run
``tools/grid.py configs/experiments/digits_{balanced,imbalanced}.py`` first), rebuilds each run's
pool, and scores its candidates with Entropy (deterministic), MC-Dropout's predictive entropy
``H[mean_t p_t]``, the expected entropy ``mean_t H[p_t]`` and BALD, their difference. Prints, per
protocol, per seed and on average, the Spearman correlations between them, each quantity's spread
across the candidates, how far the top 10% of BALD and of Entropy overlap and, on imbalanced
pools, how many of each top 10% the model predicts as a minority class. Writes
benchmarks/results/bald_vs_entropy.json.
"""
import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from segal.experiments.replay import ReplayedStep, replay_grid_step
from segal.scorers import BALD, Entropy

RESULTS = Path(__file__).resolve().parent / "results"


def quantities(replayed: ReplayedStep) -> dict:
    """The step-0 model's per-candidate Entropy, predictive entropy, expected entropy and BALD."""
    cfg, ctx = replayed.cfg, replayed.ctx
    dataset, model, pool = ctx.dataset, ctx.model, ctx.pool
    candidates = pool.candidate_ids()
    bald = BALD(**{k: v for k, v in cfg.scorer.items() if k != "type"}, precision="exact")
    bald.prepare(ctx)
    batch = {"inputs": dataset.__getitems__(candidates.tolist())["inputs"], "id": torch.as_tensor(candidates)}
    stats = bald.statistics(ctx, batch)
    predictive = stats.predictive_entropy().numpy()
    expected = (stats.sum_entropy / stats.passes).numpy()
    entropy = Entropy(precision="exact").score(ctx, batch).numpy()
    predicted = model.eval()(batch["inputs"]).argmax(1).numpy()
    minority = set(replayed.protocol.get("minority_classes", []) or [])
    return {"Entropy": entropy, "H[mean p]": predictive, "mean H[p]": expected, "BALD": predictive - expected,
            "predicted_minority": np.isin(predicted, sorted(minority)) if minority else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="work_dirs/grid")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    names = ("Entropy", "H[mean p]", "mean H[p]", "BALD")
    pairs = [("BALD", "Entropy"), ("BALD", "H[mean p]"), ("BALD", "mean H[p]"), ("Entropy", "mean H[p]"),
             ("Entropy", "H[mean p]")]
    result = {}
    for protocol in ("balanced", "imbalanced"):
        rows = []
        for seed in args.seeds:
            try:
                q = quantities(replay_grid_step(args.runs, f"digits_{protocol}", "bald", seed))
            except FileNotFoundError as err:
                raise SystemExit(str(err)) from None
            row = {f"{a} vs {b}": float(spearmanr(q[a], q[b])[0]) for a, b in pairs}
            row.update({f"spread {n}": float(np.std(q[n])) for n in names})
            top = {n: q[n] >= np.quantile(q[n], 0.9) for n in ("BALD", "Entropy")}
            row["share of BALD's top 10% in Entropy's top 10%"] = float(np.mean(top["Entropy"][top["BALD"]]))
            if q["predicted_minority"] is not None:
                row["candidates predicted as a minority class"] = float(np.mean(q["predicted_minority"]))
                for n in ("BALD", "Entropy"):
                    row[f"{n}'s top 10% predicted as a minority class"] = float(np.mean(q["predicted_minority"][top[n]]))
            rows.append(row)
        result[protocol] = {key: {"mean": float(np.mean([r[key] for r in rows])),
                                  "per_seed": [round(r[key], 3) for r in rows]} for key in rows[0]}
        print(f"{protocol} (seeds {args.seeds}): mean, per seed")
        for key, value in result[protocol].items():
            print(f"  {key:<50} {value['mean']:+.3f}  {value['per_seed']}")
    out = RESULTS / "bald_vs_entropy.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

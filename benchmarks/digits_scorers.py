"""Compare every scorer on the digits protocols over several seeds.

    python benchmarks/digits_scorers.py [--protocol imbalanced] [--seeds 0 1 2] [--out work_dirs/bench_digits]

Prints, per scorer, the mean and std over seeds of the mistake rate recorded
at step 1 (the fraction of the ids that the step-1 model selected and had
predicted wrongly: the paper's Table 1 quantity), the final test accuracy and
the run time. tools/report.py turns the runs into curves and tables.
"""
import argparse
import logging
import time
from pathlib import Path

import numpy as np

from segal.apis import run_experiment
from segal.config import load_config

SCORERS = ["random", "entropy", "mc-dropout", "bald", "coreset", "badge", "err-reduction",
           "holdout-loss-change-approx", "holdout-loss-change"]
REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="imbalanced", choices=["balanced", "imbalanced"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="work_dirs/bench_digits")
    args = parser.parse_args()
    logging.getLogger("segal").setLevel(logging.WARNING)
    print(f"digits, {args.protocol} protocol, seeds {args.seeds}")
    print(f"{'scorer':<28} {'step-1 mistake rate':>22} {'final accuracy':>16} {'seconds/run':>12}")
    for scorer in SCORERS:
        mistakes, accuracies, seconds = [], [], []
        for seed in args.seeds:
            cfg = load_config(str(REPO / f"configs/digits/mlp_{scorer}_{args.protocol}.py"), {"loop.progress": False})
            cfg.seed = seed
            work_dir = Path(args.out) / args.protocol / scorer / f"seed{seed}"
            started = time.perf_counter()
            records = run_experiment(cfg, work_dir, resume=(work_dir / "state.json").exists())
            seconds.append(time.perf_counter() - started)
            mistakes.append(records[1]["mistake_rate"])
            accuracies.append(records[-1]["accuracy"])
        print(f"{scorer:<28} {np.mean(mistakes):>15.3f} ± {np.std(mistakes):.3f} "
              f"{np.mean(accuracies):>9.4f} ± {np.std(accuracies):.4f} {np.mean(seconds):>12.1f}")


if __name__ == "__main__":
    main()

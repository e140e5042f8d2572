"""Do the region scorers find the regions a model gets wrong? The first selection of each, measured.

    python benchmarks/region_mistakes.py [--seeds 0 1 2] [--budget 8192] [--shortlist 32] [--quick]
                                         [--out benchmarks/results/region_mistakes.json]

For each seed the loop itself trains step 0 of the synthetic-city region runs (the settings of
``configs/experiments/synthetic_city_regions.py``: 4 labelled images, SLIC regions of about
512 pixels; ``protocol.num_steps=0``, runs beside the data root), and each scorer chooses the regions of a
``--budget``-pixel step. It reports, per scorer, the share of the chosen regions' pixels that
the model predicts wrongly (the ``mistake_rate`` a region run records), the same share over
every candidate region (what a random choice finds on average), and how many of the chosen
pixels the dominant-class oracle labels wrongly (mixed regions). Ours is measured with both
holdout reductions: ``'rise'`` (the mean over the holdout pixels whose loss rose, the paper's
segmentation variant and segal's default) and ``'mean'`` (over every holdout pixel).
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from segal.apis import run_experiment
from segal.config import load_config
from segal.data.costs import Budget
from segal.data.region_pool import RegionLabels
from segal.experiments.replay import replay_step
from segal.scorers import Entropy, HoldoutLossChange, HoldoutLossChangeApprox, Random, ScoringContext
from segal.selection.cost_ledger import CostLedger
from segal.selection.regions import select_regions
from segal.spec import ExperimentSpec

REPO = Path(__file__).resolve().parents[1]
CONFIG = "configs/synthetic_city/deeplabv3plus-r18_holdout-loss-change.py"
OPTIONS = {"loop.progress": False, "dataset.generate": True, "protocol.initial_size": 4, "train.max_epochs": 8,
           "train.patience": 3, "dataset.regions": dict(type="SLIC", n_segments=16, compactness=10),
           "protocol.step_size": None, "protocol.budget": dict(unit="pixels", per_step=8192), "device": "cpu"}


def step_zero(seed: int, data_root: str, work_root: Path, quick: bool):
    """Step 0 of a region run with ``seed``, run by the loop itself (``protocol.num_steps=0``) and rebuilt for
    rescoring: ``(spec, scoring context)``."""
    options = {**OPTIONS, "seed": seed, "dataset.data_root": data_root, "protocol.num_steps": 0}
    if quick:
        options.update({"dataset.num_train": 24, "dataset.num_val": 4, "train.max_epochs": 1,
                        "protocol.holdout_size": 4})
    work = work_root / f"seed{seed}"
    run_experiment(load_config(str(REPO / CONFIG), options), str(work), resume=(work / "state.json").is_file())
    replayed = replay_step(work, 0)
    return ExperimentSpec(replayed.cfg), replayed.ctx


def scorers(spec, shortlist: int) -> dict:
    ours = {k: v for k, v in dict(spec.cfg.scorer).items() if k not in ("type", "shortlist", "reduction")}
    return {"Random": Random(), "Entropy": Entropy(), "Ours-app": HoldoutLossChangeApprox(),
            "Ours (rise)": HoldoutLossChange(**ours, shortlist=shortlist, reduction="rise"),
            "Ours (mean)": HoldoutLossChange(**ours, shortlist=shortlist, reduction="mean")}


@torch.no_grad()
def region_truths(ctx: ScoringContext, images) -> dict:
    """Per image ``(region map, wrong [H, W] bool, counted [H, W] bool, dominant-label wrong [H, W] bool)``."""
    truths = {}
    for image in images:
        sample = ctx.dataset[int(image)]
        predicted = ctx.logits(sample["inputs"][None].to(ctx.device)).argmax(1)[0].cpu().numpy()
        target, regions = sample["target"].numpy(), ctx.dataset.region_map(int(image))
        counted = target != ctx.ignore_index
        dominant = np.zeros_like(target)
        for region in np.unique(regions):
            inside = (regions == region) & counted
            if inside.any():
                dominant[regions == region] = np.bincount(target[inside]).argmax()
        truths[int(image)] = (regions, (predicted != target) & counted, counted, (dominant != target) & counted)
    return truths


def shares(selection, truths) -> dict:
    """Wrong-prediction and wrong-dominant-label shares of the selected regions' counted pixels."""
    wrong = counted = mislabelled = 0
    for image, region in zip(selection.image_ids.tolist(), selection.region_ids.tolist()):
        regions, is_wrong, is_counted, is_mislabelled = truths[image]
        inside = regions == region
        wrong += int(is_wrong[inside].sum())
        counted += int(is_counted[inside].sum())
        mislabelled += int(is_mislabelled[inside].sum())
    return {"wrong_share": wrong / max(counted, 1), "dominant_label_wrong_share": mislabelled / max(counted, 1),
            "regions": int(len(selection.region_ids)), "images": int(len(np.unique(selection.image_ids)))}


def measure(seed: int, data_root: str, work_root: Path, budget: int, shortlist: int, quick: bool) -> dict:
    spec, ctx = step_zero(seed, data_root, work_root, quick)
    pool = ctx.pool
    candidates = pool.candidate_ids()
    truths = region_truths(ctx, candidates)
    every = sum(int(t[1].sum()) for t in truths.values()) / max(sum(int(t[2].sum()) for t in truths.values()), 1)
    areas = CostLedger(ctx.dataset, progress=False).areas
    result = {"seed": seed, "candidates": int(len(candidates)), "wrong_share_of_every_region": every, "scorers": {}}
    for name, scorer in scorers(spec, shortlist).items():
        started = time.perf_counter()
        selection, _ = select_regions(scorer, ctx, RegionLabels(pool), Budget("pixels", budget), areas)
        result["scorers"][name] = {**shares(selection, truths), "seconds": time.perf_counter() - started}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=int, default=8192, help="pixels a step buys")
    parser.add_argument("--shortlist", type=int, default=32, help="regions Ours re-scores exactly")
    parser.add_argument("--data-root", default=str(REPO / "work_dirs/region_mistakes/synthetic_city"))
    parser.add_argument("--quick", action="store_true", help="tiny data and one epoch: a smoke test")
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/region_mistakes.json"))
    args = parser.parse_args()
    work_root = Path(args.data_root).parent / "runs"
    results = [measure(seed, args.data_root, work_root, args.budget, args.shortlist, args.quick)
               for seed in args.seeds]
    names = list(results[0]["scorers"])
    print(f"first region selection ({args.budget:,} pixels) on the synthetic city, seeds {args.seeds}: "
          f"share of the chosen pixels predicted wrongly (all candidates: "
          f"{np.mean([r['wrong_share_of_every_region'] for r in results]):.3f})")
    print(f"  {'scorer':<14}{'wrong, mean':>12}{'per seed':>28}{'dominant label wrong':>22}")
    for name in names:
        wrong = [r["scorers"][name]["wrong_share"] for r in results]
        noise = [r["scorers"][name]["dominant_label_wrong_share"] for r in results]
        print(f"  {name:<14}{np.mean(wrong):>12.3f}  {' '.join(f'{w:.3f}' for w in wrong):>28}{np.mean(noise):>22.3f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"command": " ".join(["python", "benchmarks/region_mistakes.py", *sys.argv[1:]]),
                                          "budget": args.budget, "shortlist": args.shortlist, "seeds": results},
                                         indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

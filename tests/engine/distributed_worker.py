"""What each rank runs in the multi-process tests, and the same setups for the single-process side.

    torchrun --nproc_per_node 2 tests/engine/distributed_worker.py scoring OUT MLP_WEIGHTS SEG_WEIGHTS SEG_DATA_ROOT
    python tests/engine/distributed_worker.py fail|hang OUT     (RANK, WORLD_SIZE, ... set by the test)

``scoring``: for classification (digits) and segmentation (a Cityscapes-format
set), every scorer selects (and, unless it selects jointly, scores every
candidate) with the saved weights; the test split is evaluated too. Each rank
writes ``OUT/rank<r>.json``.

``fail``: rank 1 raises a user error; ``hang``: rank 1 sleeps. Rank 0 runs a
digits experiment and so waits for rank 1 in its first collective (``dist.timeout=5``).
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from helpers.scorers import Cityscapes64, Digits64, city_pool, digits_context

from segal.data.loading import make_loader
from segal.engine.inference import evaluate
from segal.models import MLPClassifier, SegmentationModel
from segal.scorers import (
    BADGE,
    BALD,
    Coreset,
    Entropy,
    ErrReduction,
    HoldoutLossChange,
    HoldoutLossChangeApprox,
    MCDropout,
    Random,
    ScoringContext,
)
from segal.scorers.regions import choose_regions, rank_regions
from segal.utils.distributed import shard


def scorers(task: str) -> dict:
    """The scorers checked for ``task``, by name; float64 setups, so 'exact' precision."""
    common = {
        "Random": Random(),
        "Entropy": Entropy(precision="exact"),
        "MCDropout": MCDropout(num_passes=5, precision="exact"),
        "BALD": BALD(num_passes=5, precision="exact"),
        "HoldoutLossChange": HoldoutLossChange(precision="exact"),
        "HoldoutLossChangeApprox": HoldoutLossChangeApprox(precision="exact"),
        "Coreset": Coreset(precision="exact"),
    }
    if task == "classification":
        return {**common, "ErrReduction": ErrReduction(subset_size=20, precision="exact"),
                "BADGE": BADGE(precision="exact")}
    return {**common, "HoldoutLossChange holdout_pixels": HoldoutLossChange(holdout_pixels=0.25, precision="exact")}


def context(task: str, weights: str, data_root: str = None) -> ScoringContext:
    """The scoring context of ``task`` with the model weights saved in ``weights``."""
    if task == "classification":
        dataset = Digits64()
        model = MLPClassifier(dataset.input_shape, 10, hidden=16, dropout=0.2).double()
        model.load_state_dict(torch.load(weights))
        return digits_context(dataset, model.eval(), n_candidates=150, batch_size=16)
    dataset = Cityscapes64(data_root)
    model = SegmentationModel((3,), 19, dropout=0.2).double()
    model.load_state_dict(torch.load(weights))
    pool = city_pool(dataset, holdout=[1, 4, 6], labelled=[0, 2])
    return ScoringContext(model=model.eval(), dataset=dataset, pool=pool, device=torch.device("cpu"), step=0, seed=3,
                          batch_size=2, progress=False)


def scoring_results(task: str, weights: str, data_root: str = None) -> dict:
    """Per scorer: the selection (ids, scores) and, for scorers that score, every candidate's score;
    and the test split's confusion matrix and loss. The same code runs in one process and in each rank."""
    ctx = context(task, weights, data_root)
    k = 10 if task == "classification" else 3
    results = {}
    for name, scorer in scorers(task).items():
        selection = scorer.select(ctx, k)
        entry = {"selected": selection.ids.tolist(), "selection_scores": selection.scores.tolist()}
        if name not in ("Coreset", "BADGE"):
            entry["scores"] = scorer.score_ids(ctx, ctx.pool.candidate_ids()).tolist()
        results[name] = entry
    loader = make_loader(ctx.dataset, shard(ctx.pool.test_ids), 16)
    confusion, loss = evaluate(ctx.model, loader, ctx.device, ctx.dataset.num_classes, ctx.ignore_index)
    results["evaluation"] = {"confusion": confusion.matrix.tolist(), "loss": loss}
    if task == "segmentation":
        results["regions"] = region_results(weights, data_root)
    return results


def region_results(weights: str, data_root: str) -> dict:
    """Per region-scoring scorer: every region's score and tier, and the 5 regions a step would buy."""
    ctx = context("segmentation", weights, data_root)
    ctx.dataset = Cityscapes64(data_root, regions=dict(type="Grid", size=16))
    chosen = {"Random": Random(), "Entropy": Entropy(precision="exact"),
              "BALD": BALD(num_passes=5, precision="exact"),
              "HoldoutLossChangeApprox": HoldoutLossChangeApprox(precision="exact"),
              "HoldoutLossChange": HoldoutLossChange(precision="exact", shortlist=6)}
    def labelled(image):
        return np.array([0, 3]) if image == 3 else np.zeros(0, dtype=np.int64)
    results = {}
    for name, scorer in chosen.items():
        scores, available = rank_regions(scorer, ctx, ctx.pool.candidate_ids(), labelled)
        selection = choose_regions(scores, available, 5, "regions",
                                   lambda i: np.bincount(ctx.dataset.region_map(i).ravel()))
        results[name] = {"scores": scores.scores.tolist(), "tier": scores.tier.tolist(),
                         "selected": [selection.image_ids.tolist(), selection.region_ids.tolist()]}
    return results


def main(argv):
    import os

    import torch.distributed as dist

    case, out = argv[0], Path(argv[1])
    if case == "scoring":
        mlp_weights, seg_weights, seg_root = argv[2:5]
        dist.init_process_group("gloo")
        results = {"classification": scoring_results("classification", mlp_weights),
                   "segmentation": scoring_results("segmentation", seg_weights, seg_root)}
        (out / f"rank{dist.get_rank()}.json").write_text(json.dumps(results))
        dist.destroy_process_group()
    elif case in ("fail", "hang"):
        from segal.cli import errors_as_lines
        from segal.config import load_config
        from segal.errors import InvalidValue
        from segal.utils.distributed import launched

        cfg = load_config(str(Path(__file__).resolve().parents[2] / "configs/digits/mlp_entropy_balanced.py"),
                          {"dist.timeout": 5, "train.max_epochs": 2, "loop.progress": False})
        with errors_as_lines(), launched("pytorch", cfg):
            if os.environ["RANK"] == "1":
                if case == "hang":
                    time.sleep(300)
                raise InvalidValue("rank 1 failed on purpose")  # an error of the user's, printed as one line
            from segal.apis import run_experiment

            run_experiment(cfg, str(out / "run"))
    else:
        raise SystemExit(f"unknown case {case!r}")


if __name__ == "__main__":
    main(sys.argv[1:])

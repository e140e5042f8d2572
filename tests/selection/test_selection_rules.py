"""Selection rules: the top k, and rounds over the predicted classes, against a direct construction."""
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.scorers import Digits64, digits_context, trained_mlp64

from segal.apis import run_experiment
from segal.config import load_config
from segal.scorers import Coreset, Entropy, HoldoutLossChangeApprox
from segal.scorers.ranking import top_k, top_k_per_predicted_class
from segal.settings import LoopSettings

REPO = Path(__file__).resolve().parents[2]


def rounds_reference(scores, predicted, k):
    """Round r takes, over the classes, each class's r-th best sample; within a round, best score first."""
    by_class = {c: sorted(np.flatnonzero(predicted == c), key=lambda i: (-scores[i], i)) for c in set(predicted)}
    chosen = []
    for r in range(max(len(v) for v in by_class.values())):
        picks = [members[r] for members in by_class.values() if len(members) > r]
        chosen += sorted(picks, key=lambda i: (-scores[i], i))
    return chosen[:k]


@pytest.mark.parametrize("seed", range(5))
def test_rounds_over_predicted_classes_match_the_reference(seed):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=60).round(1)  # ties on purpose
    predicted = rng.choice(4, size=60, p=[0.7, 0.2, 0.05, 0.05])
    for k in (1, 5, 13, 60):
        assert top_k_per_predicted_class(scores, predicted, k).tolist() == rounds_reference(scores, predicted, k)
    assert top_k(scores, 7).tolist() == sorted(range(60), key=lambda i: (-scores[i], i))[:7]


def test_per_predicted_class_selection_spreads_the_budget_and_keeps_each_class_best(tmp_path):
    dataset = Digits64()
    ctx = digits_context(dataset, trained_mlp64(dataset), n_candidates=300)
    scorer = HoldoutLossChangeApprox(precision="exact")
    candidates = ctx.pool.candidate_ids()
    scores = scorer.score_ids(ctx, candidates)
    with torch.no_grad():
        predicted = ctx.model(dataset.__getitems__(candidates.tolist())["inputs"]).argmax(1).numpy()
    chosen = scorer.select(ctx, 20, "per_predicted_class").ids
    position = {int(i): p for p, i in enumerate(candidates)}
    chosen_classes = predicted[[position[int(i)] for i in chosen]]
    counts = np.bincount(chosen_classes, minlength=10)
    available = np.bincount(predicted, minlength=10)
    assert counts.max() - counts[available >= counts.max()].min() <= 1, "rounds: no class gets ahead by two"
    for cls in np.unique(chosen_classes):  # within a class, the scorer's own order
        in_class = candidates[predicted == cls][np.argsort(-scores[predicted == cls], kind="stable")]
        assert set(chosen[chosen_classes == cls]) == set(in_class[: counts[cls]])
    top = scorer.select(ctx, 20).ids
    assert np.bincount(predicted[[position[int(i)] for i in top]], minlength=10).max() >= counts.max()


def test_per_predicted_class_is_refused_for_joint_selectors_before_anything_is_written(tmp_path):
    dataset = Digits64()
    cfg = load_config(str(REPO / "configs/digits/mlp_coreset_balanced.py"),
                      {"loop.selection": "per_predicted_class", "loop.progress": False})
    with pytest.raises(ValueError, match="Coreset on a classification dataset cannot use it"):
        run_experiment(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="loop.selection must be one of"):
        LoopSettings(selection="balanced")
    with pytest.raises(ValueError, match="needs a scorer that scores each sample"):
        Coreset().select(digits_context(dataset, trained_mlp64(dataset)), 5, "per_predicted_class")
    chosen = Entropy().select(digits_context(dataset, trained_mlp64(dataset)), 5, "per_predicted_class").ids
    assert len(set(chosen.tolist())) == 5, "a scorer that scores each sample takes the rule"

"""What a step does with its scores besides the selection: pseudo-labels and a growing holdout."""
import logging
from typing import List, Tuple

import numpy as np

from ..data.pool import ActivePool
from ..errors import InvalidValue
from ..scorers.base import Scorer, ScoringContext, Selection, check_budget
from ..settings import LoopSettings, share_count
from ..utils.seeding import derive_seed

logger = logging.getLogger("segal")


def select_with_pseudo_labels(scorer: Scorer, ctx: ScoringContext, k: int, rule: str, share: dict,
                              true_labels: np.ndarray) -> Tuple[Selection, dict]:
    """The selection, and the remaining candidates with the lowest scores with their predicted labels.

    Args:
        scorer: The step's scorer (it scores each sample).
        ctx: The step's context.
        k: The step size.
        rule: ``loop.selection``.
        share: ``loop.pseudo_labels``: ``dict(count=N)`` or ``dict(fraction=F)`` of the remaining candidates.
        true_labels: ``[N]`` labels of every id, to say how many pseudo-labels were right.

    Returns:
        ``(selection, record fields)``: ``pseudo_ids``, ``pseudo_labels`` and ``pseudo_label_accuracy``.
    """
    candidates = ctx.pool.candidate_ids()
    check_budget(k, len(candidates))
    scores = scorer.score_ids(ctx, candidates)
    selection = scorer.select_from_scores(ctx, candidates, scores, k, rule)
    rest = ~np.isin(candidates, selection.ids)
    lowest = np.argsort(scores[rest], kind="stable")[:share_count(share, int(rest.sum()))]
    ids = candidates[rest][lowest]
    labels = ctx.predicted_classes(ids) if len(ids) else np.zeros(0, dtype=np.int64)
    accuracy = float((labels == true_labels[ids]).mean()) if len(ids) else None
    logger.info("pseudo-labelled %d pool samples for the next stage (%s of their labels right)", len(ids),
                "-" if accuracy is None else f"{accuracy:.1%}")
    return selection, {"pseudo_ids": ids.tolist(), "pseudo_labels": labels.tolist(),
                       "pseudo_label_accuracy": accuracy}


def pseudo_labelled(records: List[dict]) -> Tuple[np.ndarray, np.ndarray]:
    """``(ids, labels)`` the last selection pseudo-labelled for the next stage (empty without pseudo-labels)."""
    last = records[-1] if records else {}
    return (np.asarray(last.get("pseudo_ids", []), dtype=np.int64),
            np.asarray(last.get("pseudo_labels", []), dtype=np.int64))


def grow_holdout(pool: ActivePool, new_ids, share: dict, run_seed: int, step: int) -> np.ndarray:
    """Moves ``loop.holdout_growth``'s share of the new labels, drawn with the step's seed, into the holdout.

    Returns:
        The moved ids, sorted.
    """
    new_ids = np.asarray(new_ids, dtype=np.int64)
    count = share_count(share, len(new_ids))
    rng = np.random.default_rng(derive_seed(run_seed, step, "holdout_growth"))
    moved = np.sort(rng.choice(new_ids, size=count, replace=False))
    pool.move_to_holdout(moved)
    logger.info("step %d: %d of the %d new labels join the holdout (now %d)", step, count, len(new_ids),
                len(pool.holdout_ids))
    return moved


def check_selection_settings(settings: LoopSettings, scorer: Scorer, dataset) -> None:
    """Refuses a selection rule or pseudo-labels that the scorer, the task or the oracle cannot serve."""
    per_sample = scorer.scores_each_sample and dataset.task == "classification"
    if settings.selection != "top" and not per_sample:
        raise InvalidValue(f"loop.selection={settings.selection!r} needs a classification dataset and a scorer that "
                           f"scores each sample; {type(scorer).__name__} on a {dataset.task} dataset cannot use it "
                           f"(set loop.selection='top')")
    if settings.pseudo_labels is not None and (not per_sample or settings.oracle != "simulated"):
        raise InvalidValue(f"loop.pseudo_labels needs a classification dataset, a scorer that scores each sample and "
                           f"the simulated oracle; not {type(scorer).__name__} on a {dataset.task} dataset "
                           f"with loop.oracle={settings.oracle!r}")

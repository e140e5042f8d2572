"""Pseudo-labels: the candidates a selection leaves with the lowest scores, trained on with predicted labels."""
import logging
from typing import List, Tuple

import numpy as np

from ..scorers.base import Scorer, ScoringContext, Selection, check_budget
from ..settings import share_count

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

"""Choosing k ids from per-sample scores: the top k, or the top k spread over the predicted classes."""
from typing import Iterable

import numpy as np


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores, best first; ties go to the lower position (the lower id)."""
    return np.argsort(-scores, kind="stable")[:k]


def top_k_per_predicted_class(scores: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """Positions of ``k`` samples taken in rounds over the predicted classes.

    Round 1 takes each predicted class's best-scored sample, round 2 each
    class's second best, and so on; within a round, higher scores first. So no
    predicted class gets its ``r + 1``-th pick before every class with ``r + 1``
    candidates has its ``r``-th: the selection keeps the scorer's choice within
    each class but cannot spend the budget on one region of the input space,
    which on an imbalanced pool is where a scorer's top scores tend to crowd.

    Args:
        scores: ``[N]`` scores, higher = annotate first.
        predicted: ``[N]`` the current model's predicted class of each sample.
        k: How many to choose.

    Returns:
        ``[k]`` positions, in the order they were chosen.
    """
    order = np.argsort(-scores, kind="stable")
    rank_in_class = np.empty(len(scores), dtype=np.int64)
    for cls in np.unique(predicted):
        members = order[predicted[order] == cls]  # this class's samples, best first
        rank_in_class[members] = np.arange(len(members))
    position_in_order = np.empty(len(scores), dtype=np.int64)
    position_in_order[order] = np.arange(len(scores))
    return np.lexsort((position_in_order, rank_in_class))[:k]


def fill_budget(costs: Iterable[int], budget: int, patience: int = 100) -> np.ndarray:
    """Positions of the items taken, in the given (best first) order, while their costs fit in the budget.

    An item that does not fit in what is left is skipped; the fill stops once
    the budget is spent or ``patience`` items in a row did not fit, so a step
    never spends more than ``budget``.

    Args:
        costs: Each item's cost, best item first (may be a lazy iterator).
        budget: What the step may spend.
        patience: Skipped items in a row before giving up on filling the rest.

    Returns:
        ``[K]`` positions.
    """
    taken, left, misses = [], budget, 0
    for position, cost in enumerate(costs):
        if cost <= left:
            taken.append(position)
            left, misses = left - cost, 0
        else:
            misses += 1
        if left == 0 or misses >= patience:
            break
    return np.asarray(taken, dtype=np.int64)

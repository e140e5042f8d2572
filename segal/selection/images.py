"""Whole images a step buys: the best ``k``, or the best whose clicks or pixels fit in the budget."""
from typing import Optional, Tuple

import numpy as np

from ..data.costs import Budget
from ..scorers.base import BudgetError, Scorer, ScoringContext, Selection
from ..scorers.ranking import fill_budget, top_k
from .cost_ledger import CostLedger
from .pseudo_labels import select_with_pseudo_labels


def select_images(scorer: Scorer, ctx: ScoringContext, budget: Budget, rule: str = "top",
                  ledger: Optional[CostLedger] = None, pseudo_labels: Optional[dict] = None,
                  true_labels: Optional[np.ndarray] = None) -> Tuple[Selection, dict]:
    """``(the images step ctx.step buys, pseudo-label record fields)``.

    Args:
        scorer: The step's scorer.
        ctx: The step's context; its pool's candidates are scored.
        budget: ``unit='images'``: the ``per_step`` best by ``rule``; ``'clicks'`` or ``'pixels'``: the best
            whose costs (``ledger``'s) fit in ``per_step``.
        rule: ``loop.selection``.
        ledger: What each image costs (clicks and pixel budgets).
        pseudo_labels: ``loop.pseudo_labels`` (``unit='images'`` only), or ``None``.
        true_labels: ``[N]`` labels of every id, with ``pseudo_labels``, to say how many were right.

    Raises:
        BudgetError: The pool has fewer candidates than asked for, or none fits in the budget.
    """
    if budget.unit != "images":
        return _select_by_cost(scorer, ctx, budget, ledger), {}
    if pseudo_labels is None:
        return scorer.select(ctx, budget.per_step, rule), {}
    return select_with_pseudo_labels(scorer, ctx, budget.per_step, rule, pseudo_labels, true_labels)


def _select_by_cost(scorer: Scorer, ctx: ScoringContext, budget: Budget, ledger: CostLedger) -> Selection:
    """The best candidate images whose clicks or pixels fit in the budget."""
    candidates = ctx.pool.candidate_ids()
    scores = scorer.score_ids(ctx, candidates)
    order = top_k(scores, len(scores))
    cost = ledger.clicks if budget.unit == "clicks" else ledger.pixels
    taken = order[fill_budget((cost(int(candidates[p])) for p in order), budget.per_step)]
    if not len(taken):
        raise BudgetError(f"no candidate image fits in {budget.key}={budget.per_step} {budget.unit}")
    return Selection(ids=candidates[taken], scores=scores[taken])

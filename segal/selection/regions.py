"""Regions a step buys: every region of the candidate images scored, the best the budget pays for.

An image may be labelled a few regions at a time over several steps; the
region labels (:class:`~segal.data.region_pool.RegionLabels`) say which
regions of which image were labelled at which step.
"""
import logging
from typing import Callable, Optional, Tuple

import numpy as np

from ..data.costs import Budget
from ..data.region_pool import RegionLabels
from ..scorers.base import BudgetError, Scorer, ScoringContext
from ..scorers.regions import RegionScores, RegionSelection, choose_regions, rank_regions
from .class_balance import balanced, class_weights, predicted_region_classes

logger = logging.getLogger("segal")


def select_regions(scorer: Scorer, ctx: ScoringContext, regions: RegionLabels, budget: Budget,
                   areas_of: Callable[[int], np.ndarray],
                   class_balance: Optional[Tuple[float, np.ndarray]] = None) -> Tuple[RegionSelection, RegionScores]:
    """The best unlabelled regions of the candidates that the budget pays for, and every region's score.

    Args:
        scorer: The step's scorer.
        ctx: The step's context.
        regions: The region labels so far.
        budget: What the step buys (``'regions'``, ``'clicks'`` or ``'pixels'``).
        areas_of: Image id -> ``[R]`` pixels of each of its regions.
        class_balance: ``(beta, [C] labelled pixels per class)`` to rank rare predicted classes
            first (:mod:`.class_balance`), or ``None``.

    Returns:
        ``(selection best first, the scores of every region of the candidates)``.

    Raises:
        BudgetError: No unlabelled region is left, or none fits in the budget.
    """
    scores, available = rank_regions(scorer, ctx, ctx.pool.candidate_ids(), regions.labelled)
    if class_balance is not None:
        power, class_pixels = class_balance
        scores = balanced(scores, predicted_region_classes(ctx, scores), class_weights(class_pixels, power))
    if not available.any():
        raise BudgetError("every region of the pool is labelled; lower protocol.num_steps")
    selection = choose_regions(scores, available, budget.per_step, budget.unit, areas_of)
    if not len(selection.region_ids):
        raise BudgetError(f"no unlabelled region fits in {budget.key}={budget.per_step} {budget.unit}")
    logger.info("step %d: %d regions of %d images (%d pixels)", ctx.step, len(selection.region_ids),
                len(np.unique(selection.image_ids)), int(selection.areas.sum()))
    return selection, scores


def record_regions(regions: RegionLabels, selection: RegionSelection, step: int,
                   areas_of: Callable[[int], np.ndarray]) -> np.ndarray:
    """Records the selected regions as labelled at ``step``; returns the images they lie in, sorted.

    ``areas_of`` (image id -> ``[R]`` region areas) lets the labels check each region id against its image.
    """
    images = np.unique(selection.image_ids)
    for image in images.tolist():
        chosen = np.sort(selection.region_ids[selection.image_ids == image])
        regions.label(image, chosen, step, num_regions=len(areas_of(image)))
    return images


def region_fields(selection: RegionSelection) -> dict:
    """Record fields of a region selection: the regions best first, their scores, and their pixels."""
    return {"selected_regions": [[int(i), int(r)] for i, r in zip(selection.image_ids, selection.region_ids)],
            "selected_region_scores": [float(s) for s in selection.scores],
            "selected_pixels": int(selection.areas.sum())}

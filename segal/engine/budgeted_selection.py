"""A step's selection under ``protocol.budget``: regions (region mode), or whole images by clicks or pixels.

Region mode is on when the dataset has ``dataset.regions``: a step scores
every region of the candidate images (:func:`~segal.scorers.regions.rank_regions`)
and buys the best unlabelled ones its budget pays for; an image may be
labelled a few regions at a time over several steps. Without regions a step
buys whole images: the ``step_size`` best, or the best whose clicks or pixels
fit in the budget.
"""
import logging
from typing import Optional, Tuple

import numpy as np

from ..data.costs import Budget
from ..data.image_files import image_size
from ..data.region_pool import RegionLabels
from ..errors import InvalidValue
from ..scorers.base import BudgetError, Scorer, ScoringContext, Selection
from ..scorers.regions import RegionSelection, choose_regions, rank_regions
from ..scorers.selection import fill_budget, top_k
from ..settings import LoopSettings
from .annotation_costs import CostLedger
from .class_balance import balanced, class_weights, predicted_region_classes
from .step_selection import select_with_pseudo_labels

logger = logging.getLogger("segal")


def region_mode(dataset) -> bool:
    """Whether the run selects regions: the dataset has ``dataset.regions``."""
    return getattr(dataset, "regions", None) is not None


def check_budget_settings(budget: Optional[Budget], scorer: Scorer, dataset, pool_ids: np.ndarray,
                          num_steps: Optional[int] = None) -> None:
    """Refuses, before anything is written, a budget the dataset or the scorer cannot serve.

    Args:
        num_steps: The steps the run plans; with it, a pixel budget the pool cannot pay for is refused too.

    Raises:
        InvalidValue: A unit that does not fit the mode, a scorer that cannot
            score regions or order images by cost, a budget below one unit, or
            pixel budgets of all steps beyond the pool's pixels.
    """
    if budget is None:
        return
    name = type(scorer).__name__
    if region_mode(dataset):
        if budget.unit == "images":
            raise InvalidValue("dataset.regions selects regions: protocol.budget.unit must be 'regions', 'clicks' or "
                               "'pixels' (remove dataset.regions to select whole images)")
        if not scorer.scores_regions:
            raise InvalidValue(f"{name} chooses whole images and cannot score regions; use Random, Entropy, "
                               f"MCDropout, BALD, HoldoutLossChangeApprox or HoldoutLossChange with dataset.regions")
    elif budget.unit == "regions":
        raise InvalidValue("protocol.budget.unit='regions' needs dataset.regions, e.g. dict(type='SLIC', "
                           "n_segments=2000, compactness=10)")
    elif budget.unit != "images" and not scorer.scores_each_sample:
        raise InvalidValue(f"{name} chooses a batch jointly and cannot fill a {budget.unit} budget; use "
                           f"protocol.budget.unit='images'")
    if budget.unit == "pixels" and len(pool_ids):
        width, height = image_size(dataset.image_path(int(pool_ids[0])))
        smallest = width * height // (dataset.regions.spec.n_segments if region_mode(dataset)
                                      and dataset.regions.spec.type == "SLIC" else 1)
        if region_mode(dataset) and dataset.regions.spec.type == "Grid":
            smallest = min(dataset.regions.spec.size ** 2, width * height)
        if budget.per_step < smallest:
            unit = "region" if region_mode(dataset) else "image"
            raise InvalidValue(f"protocol.budget.per_step={budget.per_step} pixels is less than one {unit} "
                               f"(about {smallest:,} pixels at {width}x{height}); raise it")
        if num_steps:
            pool_pixels = sum(int(np.prod(image_size(dataset.image_path(int(i))))) for i in pool_ids)
            if budget.per_step * num_steps > pool_pixels:
                raise InvalidValue(f"protocol.budget.per_step={budget.per_step:,} pixels for {num_steps} steps asks "
                                   f"for {budget.per_step * num_steps:,} pixels; the pool holds {pool_pixels:,}; "
                                   f"lower the budget or protocol.num_steps")


def select_regions(scorer: Scorer, ctx: ScoringContext, regions: RegionLabels, budget: Budget,
                   areas_of, class_balance: Optional[Tuple[float, np.ndarray]] = None) -> RegionSelection:
    """The regions step ``ctx.step`` buys: the best unlabelled ones the budget pays for.

    Args:
        scorer: The step's scorer.
        ctx: The step's context.
        regions: The region labels so far.
        budget: What the step buys.
        areas_of: Image id -> ``[R]`` pixels of each of its regions.
        class_balance: ``(beta, [C] labelled pixels per class)`` to rank rare predicted classes
            first (:mod:`.class_balance`), or ``None``.

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
        raise BudgetError(f"no unlabelled region fits in protocol.budget.per_step={budget.per_step} {budget.unit}")
    logger.info("step %d: %d regions of %d images (%d pixels)", ctx.step, len(selection.region_ids),
                len(np.unique(selection.image_ids)), int(selection.areas.sum()))
    return selection


def label_regions(regions: RegionLabels, selection: RegionSelection, step: int, ledger: CostLedger) -> None:
    """Records the selected regions as labelled at ``step`` (the oracle's answer is read when training)."""
    for image in np.unique(selection.image_ids).tolist():
        chosen = np.sort(selection.region_ids[selection.image_ids == image])
        regions.label(image, chosen, step, num_regions=len(ledger.areas(image)))


def region_fields(selection: RegionSelection) -> dict:
    """Record fields of a region selection: the regions best first, their scores, and their pixels."""
    return {"selected_regions": [[int(i), int(r)] for i, r in zip(selection.image_ids, selection.region_ids)],
            "selected_region_scores": [float(s) for s in selection.scores],
            "selected_pixels": int(selection.areas.sum())}


def select_images(scorer: Scorer, ctx: ScoringContext, budget: Budget, settings: LoopSettings,
                  ledger: Optional[CostLedger], true_labels: Optional[np.ndarray]) -> Tuple[Selection, dict]:
    """Image mode: ``(the images step ctx.step buys, pseudo-label record fields)``.

    The best ``per_step`` images (by ``loop.selection``, with ``loop.pseudo_labels``
    where set) for ``unit='images'``; else the best whose clicks or pixels fit.
    """
    if budget.unit != "images":
        return select_images_by_cost(scorer, ctx, budget, ledger), {}
    if settings.pseudo_labels is None:
        return scorer.select(ctx, budget.per_step, settings.selection), {}
    return select_with_pseudo_labels(scorer, ctx, budget.per_step, settings.selection, settings.pseudo_labels,
                                     true_labels)


def select_images_by_cost(scorer: Scorer, ctx: ScoringContext, budget: Budget, ledger: CostLedger) -> Selection:
    """The best candidate images whose clicks or pixels fit in the budget (image mode, ``unit != 'images'``)."""
    candidates = ctx.pool.candidate_ids()
    scores = scorer.score_ids(ctx, candidates)
    order = top_k(scores, len(scores))
    cost = ledger.clicks if budget.unit == "clicks" else ledger.pixels
    taken = order[fill_budget((cost(int(candidates[p])) for p in order), budget.per_step)]
    if not len(taken):
        raise BudgetError(f"no candidate image fits in protocol.budget.per_step={budget.per_step} {budget.unit}")
    return Selection(ids=candidates[taken], scores=scores[taken])

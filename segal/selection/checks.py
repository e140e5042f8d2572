"""What a run's selection settings need, checked before anything is scored or written."""
from typing import List, Optional

import numpy as np

from ..data.costs import Budget
from ..data.image_files import image_size
from ..errors import InvalidValue
from ..registry import SCORERS, registered_names
from ..run_mode import RunMode
from ..scorers.base import Scorer
from ..settings import LoopSettings


def region_scorers() -> List[str]:
    """The registered scorers that can score regions (their class sets ``scores_regions``), sorted."""
    return [name for name in registered_names(SCORERS) if SCORERS.get(name).scores_regions]


def check_scores_regions(scorer: Scorer) -> None:
    """Refuses a scorer that chooses whole images where regions are selected.

    Raises:
        InvalidValue: Naming the scorer and those that can score regions.
    """
    if not scorer.scores_regions:
        raise InvalidValue(f"{type(scorer).__name__} chooses whole images and cannot score regions; use one of "
                           f"{', '.join(region_scorers())} with dataset.regions")


def check_budget_settings(budget: Optional[Budget], scorer: Scorer, dataset, pool_ids: np.ndarray,
                          mode: RunMode, num_steps: Optional[int] = None) -> None:
    """Refuses, before anything is written, a budget the dataset or the scorer cannot serve.

    Args:
        budget: ``protocol.budget``, or ``None`` (``step_size`` images a step).
        mode: The run's mode (whether a step labels regions).
        num_steps: The steps the run plans; with it, a pixel budget the pool cannot pay for is refused too.

    Raises:
        InvalidValue: A unit that does not fit the mode, a scorer that cannot
            score regions or order images by cost, a budget below one unit, or
            pixel budgets of all steps beyond the pool's pixels.
    """
    if budget is None:
        return
    if mode.regions:
        if budget.unit == "images":
            raise InvalidValue("dataset.regions selects regions: protocol.budget.unit must be 'regions', 'clicks' or "
                               "'pixels' (remove dataset.regions to select whole images)")
        check_scores_regions(scorer)
        if budget.unit == "clicks" and mode.trains_on_region_answers == "exact":
            raise InvalidValue("protocol.budget.unit='clicks' cannot buy exact region labels: a region's clicks (one "
                               "per class in it) are known only once it is labelled; buy 'pixels' or 'regions'")
    elif budget.unit == "regions":
        raise InvalidValue("protocol.budget.unit='regions' needs dataset.regions, e.g. dict(type='SLIC', "
                           "n_segments=2000, compactness=10)")
    elif budget.unit != "images" and not scorer.scores_each_sample:
        raise InvalidValue(f"{type(scorer).__name__} chooses a batch jointly and cannot fill a {budget.unit} budget; "
                           f"use protocol.budget.unit='images'")
    if budget.unit == "pixels" and len(pool_ids):
        _check_pixel_budget(budget, dataset, pool_ids, mode, num_steps)


def _check_pixel_budget(budget: Budget, dataset, pool_ids: np.ndarray, mode: RunMode,
                        num_steps: Optional[int]) -> None:
    """A pixel budget must pay for one unit, and all steps together for no more than the pool holds."""
    width, height = image_size(dataset.image_path(int(pool_ids[0])))
    smallest = width * height
    if mode.regions:
        spec = dataset.regions.spec
        smallest = min(spec.size ** 2, width * height) if spec.type == "Grid" else width * height // spec.n_segments
    amounts = [("per_step", budget.per_step)] + [(f"first_steps[{i}]", a) for i, a in enumerate(budget.first_steps)]
    for key, amount in amounts:
        if amount < smallest:
            raise InvalidValue(f"protocol.budget.{key}={amount} pixels is less than one "
                               f"{'region' if mode.regions else 'image'} (about {smallest:,} pixels at "
                               f"{width}x{height}); raise it")
    if num_steps:
        pool_pixels = sum(int(np.prod(image_size(dataset.image_path(int(i))))) for i in pool_ids)
        if sum(budget.amounts(num_steps)) > pool_pixels:
            raise InvalidValue(f"protocol.budget for {num_steps} steps asks for {sum(budget.amounts(num_steps)):,} "
                               f"pixels; the pool holds {pool_pixels:,}; lower the budget or protocol.num_steps")


def check_selection_settings(settings: LoopSettings, scorer: Scorer, dataset, mode: RunMode) -> None:
    """Refuses a selection rule, pseudo-labels, region mosaics or region sampling that the scorer, the task or the
    run mode cannot serve."""
    for key in ("region_mosaic", "region_sampling"):
        if getattr(settings, key) is not None and mode.trains_on_region_answers is None:
            raise InvalidValue(f"loop.{key} needs dataset.regions and the simulated oracle (annotators' label "
                               f"files are trained whole)")
    per_sample = scorer.scores_each_sample and dataset.task == "classification"
    if settings.selection != "top" and not per_sample:
        raise InvalidValue(f"loop.selection={settings.selection!r} needs a classification dataset and a scorer that "
                           f"scores each sample; {type(scorer).__name__} on a {dataset.task} dataset cannot use it "
                           f"(set loop.selection='top')")
    if settings.pseudo_labels is not None and (not per_sample or not mode.selects_in_loop):
        raise InvalidValue(f"loop.pseudo_labels needs a classification dataset, a scorer that scores each sample and "
                           f"the simulated oracle; not {type(scorer).__name__} on a {dataset.task} dataset "
                           f"with loop.oracle={settings.oracle!r}")

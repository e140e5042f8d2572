"""Scoring the regions of pool images in one pass, and choosing regions under a budget.

Shapes: ``B`` images per batch, region maps ``[H, W]`` per image, ``R_i``
regions in image ``i``. How a scorer scores the regions of one batch is its
:meth:`~segal.scorers.base.Scorer.region_scores` (:mod:`.region_means` by default).
"""
import logging
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

import numpy as np

from ..utils.distributed import gather_arrays, shard
from ..utils.precision import no_tf32
from .checks import check_finite_scores
from .ranking import fill_budget

logger = logging.getLogger("segal")

#: Saved region scores name a region ``image * REGION_KEY + region``.
REGION_KEY = 2 ** 32


@dataclass
class RegionScores:
    """Scores of every region of some images, image after image.

    Attributes:
        image_ids: ``[N]`` the images.
        counts: ``[N]`` how many regions each has.
        scores: ``[sum(counts)]`` float64, image ``i``'s regions ``0 .. counts[i]-1`` in order.
        tier: ``[sum(counts)]`` a rank that comes before the score (higher first): the
            regions a shortlist re-scored exactly rank above the others.
    """

    image_ids: np.ndarray
    counts: np.ndarray
    scores: np.ndarray
    tier: Optional[np.ndarray] = field(default=None)

    def __post_init__(self):
        if self.tier is None:
            self.tier = np.zeros(len(self.scores), dtype=np.int64)

    @property
    def rows(self):
        """``(image id, region id)`` of every score: two ``[sum(counts)]`` arrays."""
        images = np.repeat(self.image_ids, self.counts)
        starts = np.repeat(np.cumsum(self.counts) - self.counts, self.counts)
        return images, np.arange(len(images)) - starts

    def order(self) -> np.ndarray:
        """Row positions best first: higher tier, then higher score; ties to the lower image, then region."""
        return np.lexsort((np.arange(len(self.scores)), -self.scores, -self.tier))


def score_regions(scorer, ctx, ids: Sequence[int], progress_desc: Optional[str] = None) -> RegionScores:
    """Every region of every image in ``ids``, scored by ``scorer.region_scores`` batch by batch.

    With ``ctx.score_store`` the scores so far are saved after every batch and
    an interrupted pass continues after the images it had scored. Under
    torch.distributed each rank scores its shard and every rank gets all scores.
    """
    ids = np.asarray(ids, dtype=np.int64)
    local = shard(ids)
    done_images, counts, scores = _resumed(ctx, local)
    with no_tf32():
        scorer.prepare(ctx)
        desc = progress_desc or f"score regions {type(scorer).__name__}"
        for batch in ctx.batches(local[done_images:], desc=desc):
            batch_ids = batch["id"].cpu().numpy()
            maps = [ctx.dataset.region_map(int(i)) for i in batch_ids]
            for values in scorer.region_scores(ctx, batch, maps):
                scores.append(values.detach().double().cpu().numpy())
                counts.append(len(scores[-1]))
            done_images += len(batch_ids)
            if ctx.score_store is not None:
                _save(ctx, local[:done_images], counts, scores)
    counts = gather_arrays(np.asarray(counts, dtype=np.int64))
    flat = gather_arrays(np.concatenate(scores) if scores else np.zeros(0))
    result = RegionScores(ids, counts, flat)
    check_finite_scores(type(scorer).__name__, result.rows[0], flat)
    return result


def _save(ctx, images: np.ndarray, counts: List[int], scores: List[np.ndarray]) -> None:
    keys = np.repeat(images, counts) * REGION_KEY + np.concatenate([np.arange(c) for c in counts])
    ctx.score_store.save_scores(keys, np.concatenate(scores))


def _resumed(ctx, local: np.ndarray):
    """``(images done, counts, scores)`` of an interrupted pass over ``local``, or a fresh start."""
    saved = ctx.score_store.load_scores() if ctx.score_store is not None else None
    if saved is None or not len(saved[0]):
        return 0, [], []
    images, regions = np.divmod(saved[0], REGION_KEY)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(images)) + 1])
    done, counts = images[starts], np.diff(np.append(starts, len(images)))
    consistent = (len(done) <= len(local) and np.array_equal(done, local[:len(done)])
                  and np.array_equal(regions, np.concatenate([np.arange(c) for c in counts])))
    if not consistent:
        return 0, [], []
    logger.info("continuing an interrupted region scoring pass after %d of %d images", len(done), len(local))
    splits = np.split(saved[1], np.cumsum(counts)[:-1])
    return len(done), counts.tolist(), list(splits)


@dataclass
class RegionSelection:
    """The regions a step chose, best first: ``[K]`` image ids, region ids, scores and areas (pixels)."""

    image_ids: np.ndarray
    region_ids: np.ndarray
    scores: np.ndarray
    areas: np.ndarray


def choose_regions(scores: RegionScores, available: np.ndarray, per_step: int, unit: str,
                   areas_of: Callable[[int], np.ndarray]) -> RegionSelection:
    """The best available regions that the step's budget buys.

    Args:
        scores: The pass's region scores.
        available: ``[sum(counts)]`` bool, False for regions already labelled.
        per_step: The budget.
        unit: ``'regions'`` or ``'clicks'`` (one click per region: the best
            ``per_step`` regions) or ``'pixels'`` (regions in score order as
            long as their pixels fit in what is left of the budget).
        areas_of: Image id -> ``[R]`` pixels of each of its regions (full resolution).
    """
    images, regions = scores.rows
    order = scores.order()
    order = order[available[order]]
    cache = {}

    def area(position: int) -> int:
        image = int(images[position])
        if image not in cache:
            cache[image] = areas_of(image)
        return int(cache[image][regions[position]])

    cost = (lambda p: 1) if unit in ("regions", "clicks") else area
    taken = order[fill_budget((cost(p) for p in order), per_step)]
    return RegionSelection(images[taken], regions[taken], scores.scores[taken],
                           np.array([area(p) for p in taken], dtype=np.int64))


def available_regions(scores: RegionScores, labelled: Callable[[int], np.ndarray]) -> np.ndarray:
    """``[sum(counts)]`` bool: the regions not labelled yet (``labelled``: image id -> its labelled region ids)."""
    available = np.ones(len(scores.scores), dtype=bool)
    starts = np.cumsum(scores.counts) - scores.counts
    for image, start in zip(scores.image_ids, starts):
        available[start + labelled(int(image))] = False
    return available


def rank_regions(scorer, ctx, ids: Sequence[int], labelled: Callable[[int], np.ndarray]):
    """The regions of images ``ids`` scored for a step: ``(RegionScores, available)``.

    One pass of ``scorer.region_pass()`` scores every region; the scorer may
    then re-score some of them (:meth:`~segal.scorers.base.Scorer.rerank_regions`).
    """
    scores = score_regions(scorer.region_pass(), ctx, ids)
    available = available_regions(scores, labelled)
    return scorer.rerank_regions(ctx, scores, available), available

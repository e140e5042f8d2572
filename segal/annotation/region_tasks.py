"""What the ML backend says about an image in region mode: which regions to label, and the score of the best.

A task of a region run is one image; its annotators label the regions that
``tools/select.py`` recorded as pending for the next step. The task's score
is the best score among those regions, so Label Studio's order by score is
the order of the export, whose images are ranked by their best region. An
image with no pending region (not selected this step) is scored by its best
region still unlabelled: where annotators would look next.

A scorer that re-scores a shortlist (Ours) re-scores exactly the pending
regions of the images asked, in one pass, at most its shortlist of them as
``select.py`` did; the other regions keep the first pass's score (Ours-app),
which is on another scale, so only pending images compare with each other on
the exact criterion.
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..data.region_pool import RegionLabels
from ..scorers.base import Scorer, ScoringContext
from ..scorers.regions import available_regions, score_regions


def requested_regions(regions: RegionLabels, image: int, step: int) -> Tuple[int, ...]:
    """The region ids of ``image`` pending annotation for ``step`` (empty when it was not selected)."""
    return tuple(regions.labelled(image, step).tolist())


def region_task_scores(scorer: Scorer, ctx: ScoringContext, regions: RegionLabels, ids: Sequence[int],
                       step: int) -> Dict[int, Optional[float]]:
    """Image id -> the score of its best pending region for ``step``, or of its best unlabelled region.

    Args:
        scorer: The run's scorer.
        ctx: The scoring context of the held checkpoint.
        regions: The run's region labels (pending ones included).
        ids: The images.
        step: The step the pending regions are for.

    Returns:
        ``None`` for an image with no region left to label.
    """
    scores = score_regions(scorer.region_pass(), ctx, np.asarray(ids, dtype=np.int64))
    images, region_ids = scores.rows
    pending = np.zeros(len(images), dtype=bool)
    for image in scores.image_ids.tolist():
        mine = images == image
        pending[mine] = np.isin(region_ids[mine], requested_regions(regions, image, step))
    if pending.any():  # one re-scoring pass (a shortlist's holdout pass is costly) for every pending region
        scores = scorer.rerank_regions(ctx, scores, pending)
    unlabelled = available_regions(scores, regions.labelled)
    answers = {}
    for image in scores.image_ids.tolist():
        mine = images == image
        candidates = mine & pending if (mine & pending).any() else mine & unlabelled
        answers[image] = float(scores.scores[candidates].max()) if candidates.any() else None
    return answers

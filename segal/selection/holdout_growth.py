"""A growing holdout: ``loop.holdout_growth``'s share of each step's new labels joins the holdout."""
import logging

import numpy as np

from ..data.pool import ActivePool
from ..settings import share_count
from ..utils.seeding import derive_seed

logger = logging.getLogger("segal")


def grow_holdout(pool: ActivePool, new_ids, share: dict, run_seed: int, step: int) -> np.ndarray:
    """Moves ``share`` of the new labels, drawn with the step's seed, into the holdout.

    Args:
        pool: The run's pool; the drawn ids move to its holdout.
        new_ids: The ids step ``step`` selected.
        share: ``dict(count=N)`` or ``dict(fraction=F)``.
        run_seed: The run's seed.
        step: The selecting step.

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

"""RegionLabels: which regions of which pool images were labelled, and at which step.

In region mode an image is labelled a few regions at a time, possibly over
several steps. The :class:`~segal.data.pool.ActivePool` keeps saying which
images are fully labelled (the initial set, the holdout, the test split);
this class adds the partial labels of pool images.

Invariants: only unlabelled ``POOL`` images have labelled regions; a region is
labelled at most once; its step is ``>= 1`` (step 0 is the initial set).
"""
from typing import Dict, Optional, Sequence

import numpy as np

from .pool import UNLABELLED, ActivePool, PoolError, Split


class RegionLabels:
    """The labelled regions of the pool's partly labelled images.

    Args:
        pool: The run's pool; it says which images may receive region labels.
    """

    def __init__(self, pool: ActivePool):
        self.pool = pool
        self._steps: Dict[int, Dict[int, int]] = {}  # image id -> {region id: step}

    def label(self, image: int, regions: Sequence[int], step: int, num_regions: Optional[int] = None) -> None:
        """Marks ``regions`` of ``image`` as labelled at ``step``.

        Raises:
            PoolError: The image is not an unlabelled pool image, a region is
                repeated, negative, ``>= num_regions`` or already labelled, or
                the step is below 1. Nothing is changed in that case.
        """
        image, regions = int(image), np.asarray(regions, dtype=np.int64).reshape(-1)
        self._check_image(image)
        if not isinstance(step, (int, np.integer)) or step < 1:
            raise PoolError(f"region labels come at steps >= 1, got {step!r}")
        if len(np.unique(regions)) != len(regions) or (regions < 0).any():
            raise PoolError(f"image {image}: region ids must be distinct and >= 0, got {regions[:10].tolist()}")
        if num_regions is not None and (regions >= num_regions).any():
            raise PoolError(f"image {image} has {num_regions} regions; ids {regions[regions >= num_regions][:10]}"
                            f" do not exist")
        known = self._steps.get(image, {})
        again = [r for r in regions.tolist() if r in known]
        if again:
            raise PoolError(f"image {image}: regions {again[:10]} are already labelled (at step {known[again[0]]})")
        self._steps.setdefault(image, {}).update({r: int(step) for r in regions.tolist()})

    def _check_image(self, image: int) -> None:
        if not 0 <= image < len(self.pool):
            raise PoolError(f"image id {image} out of range [0, {len(self.pool)})")
        if self.pool.split_of([image])[0] != Split.POOL or self.pool.labelled_step([image])[0] != UNLABELLED:
            raise PoolError(f"image {image} is not an unlabelled pool image; only those receive region labels")

    def labelled(self, image: int, step: Optional[int] = None) -> np.ndarray:
        """Sorted region ids of ``image`` labelled so far (or at ``step``)."""
        known = self._steps.get(int(image), {})
        return np.array(sorted(r for r, s in known.items() if step is None or s == step), dtype=np.int64)

    def images(self, step: Optional[int] = None) -> np.ndarray:
        """Sorted ids of the images with labelled regions (labelled at ``step``, if given)."""
        return np.array(sorted(i for i, known in self._steps.items()
                               if step is None or step in known.values()), dtype=np.int64)

    def count(self, step: Optional[int] = None) -> int:
        """How many regions are labelled (at ``step``, if given)."""
        return sum(1 for known in self._steps.values() for s in known.values() if step is None or s == step)

    @property
    def last_step(self) -> int:
        return max((s for known in self._steps.values() for s in known.values()), default=UNLABELLED)

    def state_dict(self) -> list:
        """``[[image, region, step], ...]`` sorted: a JSON-serialisable snapshot."""
        return [[i, r, s] for i in sorted(self._steps) for r, s in sorted(self._steps[i].items())]

    def load_state_dict(self, rows) -> None:
        """Restores :meth:`state_dict`'s snapshot, checking every row against the pool.

        Raises:
            PoolError: A row is not three integers, names an image that is not an
                unlabelled pool image, a negative region, a step below 1 or a region twice.
        """
        restored = RegionLabels(self.pool)
        if not isinstance(rows, list):
            raise PoolError(f"region labels must be a list of [image, region, step] rows, got {type(rows).__name__}")
        for row in rows:
            if (not isinstance(row, list) or len(row) != 3
                    or not all(isinstance(v, int) and not isinstance(v, bool) for v in row)):
                raise PoolError(f"region label rows are [image, region, step] integers, got {row!r}")
            restored.label(row[0], [row[1]], row[2])
        self._steps = restored._steps

"""What a segmentation run's labels cost so far: images touched, regions, clicks and pixels.

Every step record of a segmentation run carries ``labelled_images``,
``labelled_regions``, ``labelled_clicks`` and ``labelled_pixels``
(everything annotated by that step's training, the holdout not counted), each
also as a ``*_fraction`` of what labelling the whole pool would cost, and
``click_model``. In an annotation run only delivered labels count (an image
still waiting for its label file costs nothing yet), and the pool's clicks
are unknown (they are counted on labels), so ``labelled_clicks_fraction`` is
``None``:

* an image labelled whole costs its polygon vertices
  (:func:`~segal.data.costs.image_clicks`: ``gtFine_polygons`` where the file
  exists, else ``label_contours``), all its pixels and all its regions;
* a labelled region costs its pixels and one click (``one_per_region``: the
  annotator names its dominant class), or, where the simulated oracle answers
  with the region's exact labels (``region_label='exact'``), one click per
  class present in it (``one_per_class_in_region``: the annotator names each
  class and marks where it lies), void alone counting as one.

``labelled_regions`` is ``None`` for a dataset without ``dataset.regions``.
An annotation run's records also carry ``labelled_seconds``: the annotators'
times recorded on import (:mod:`segal.data.annotation_times`), 0 for an
image without one (the initial set, labels delivered by hand).
"""
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from ..data.annotation_times import AnnotationTimes
from ..data.image_files import image_size
from ..data.pool import ActivePool, Split
from ..data.region_pool import RegionLabels
from ..run_mode import RunMode
from ..utils.progress import Progress

COST_UNITS = ("images", "regions", "clicks", "pixels")
#: What a report may put on its x axis: the costs, and the annotators' recorded seconds (annotation runs).
REPORT_UNITS = COST_UNITS + ("seconds",)


class CostLedger:
    """Counts annotation costs from the pool and the region labels, caching what it reads per image.

    Args:
        dataset: A segmentation dataset (``image_path``, ``clicks``, ``region_map`` when it has regions).
        progress: Show a progress bar while the pool's totals are counted.
        labels_known: Every pool label is on disk (the simulated oracle); otherwise (annotators) clicks are
            counted only on delivered labels.
        per_class_regions: A region costs one click per class present in it (the simulated oracle's
            ``region_label='exact'``), not one.
        times: Annotation runs: the annotators' recorded times, for ``labelled_seconds``.
    """

    @classmethod
    def for_run(cls, dataset, mode: RunMode, progress: bool, times_path) -> "CostLedger":
        """The ledger of a run in ``mode``; an annotation run's reads its annotation times from ``times_path``."""
        return cls(dataset, progress, mode.labels_known, mode.trains_on_region_answers == "exact",
                   None if mode.labels_known else AnnotationTimes(times_path))

    def __init__(self, dataset, progress: bool = True, labels_known: bool = True, per_class_regions: bool = False,
                 times: Optional[AnnotationTimes] = None):
        self.dataset, self.progress, self.labels_known, self.times = dataset, progress, labels_known, times
        self.has_regions = getattr(dataset, "regions", None) is not None
        self.per_class_regions = per_class_regions
        self._pixels: Dict[int, int] = {}
        self._clicks: Dict[int, int] = {}
        self._areas: Dict[int, np.ndarray] = {}
        self._region_clicks: Dict[int, np.ndarray] = {}
        self.click_models = set()

    def pixels(self, image: int) -> int:
        if image not in self._pixels:
            width, height = image_size(self.dataset.image_path(image))
            self._pixels[image] = width * height
        return self._pixels[image]

    def clicks(self, image: int) -> int:
        if image not in self._clicks:
            self._clicks[image], model = self.dataset.clicks(image)
            self.click_models.add(model)
        return self._clicks[image]

    def areas(self, image: int) -> np.ndarray:
        """``[R]`` pixels of each region of ``image``."""
        if image not in self._areas:
            self._areas[image] = np.bincount(self.dataset.region_map(image).ravel())
        return self._areas[image]

    def region_clicks(self, image: int) -> np.ndarray:
        """``[R]`` clicks to label each region of ``image``: 1, or the classes present in it (at least 1)."""
        if not self.per_class_regions:
            return np.ones(len(self.areas(image)), dtype=np.int64)
        if image not in self._region_clicks:
            regions, label = self.dataset.region_map(image), self.dataset.read(image)[1]
            present = np.zeros((len(self.areas(image)), 256), dtype=bool)
            present[regions.ravel(), label.ravel()] = True
            present[:, getattr(self.dataset, "ignore_index", 255)] = False
            self._region_clicks[image] = np.maximum(present.sum(1), 1)
        return self._region_clicks[image]

    def whole_image(self, image: int, clicks: bool = True) -> dict:
        """What labelling ``image`` whole costs, by unit (clicks ``None`` when not asked for)."""
        return {"images": 1, "pixels": self.pixels(image), "clicks": self.clicks(image) if clicks else None,
                "regions": len(self.areas(image)) if self.has_regions else 0}

    def seconds(self, ids) -> float:
        """The annotators' recorded seconds on the images ``ids`` (0 for an image without a record)."""
        times, root = self.times.read(), Path(self.dataset.data_root)
        return float(sum(times.get(Path(self.dataset.image_path(int(i))).relative_to(root).as_posix(), 0.0)
                         for i in ids))

    def pool_totals(self, pool: ActivePool) -> dict:
        """What labelling every image of the pool split whole would cost (reads every label once)."""
        totals = dict.fromkeys(COST_UNITS, 0)
        ids = pool.ids(Split.POOL)
        with Progress(len(ids), "annotation cost of the pool", unit="img", enabled=self.progress) as bar:
            for image in ids.tolist():
                for unit, value in self.whole_image(image, clicks=self.labels_known).items():
                    totals[unit] += value or 0
                bar.update()
        if not self.has_regions:
            totals["regions"] = None
        if not self.labels_known:
            totals["clicks"] = None
        return totals

    def labelled(self, pool: ActivePool, regions: Optional[RegionLabels], totals: dict) -> dict:
        """The cost fields of a step record: what the pool's labels and the region labels cost so far."""
        spent = dict.fromkeys(COST_UNITS, 0)
        labelled_ids = pool.labelled_ids()
        if not self.labels_known:  # annotators: what was delivered so far
            labelled_ids = labelled_ids[self.dataset.has_label(labelled_ids)]
        for image in labelled_ids.tolist():
            for unit, value in self.whole_image(image).items():
                spent[unit] += value
        if regions is not None:
            for image in regions.images().tolist():
                labelled = regions.labelled(image)
                spent["images"] += 1
                spent["regions"] += len(labelled)
                spent["clicks"] += int(self.region_clicks(image)[labelled].sum())
                spent["pixels"] += int(self.areas(image)[labelled].sum())
        timed = np.union1d(labelled_ids, regions.images()) if regions is not None else labelled_ids
        fields = {"labelled_seconds": self.seconds(timed)} if self.times is not None else {}
        region_model = "+one_per_class_in_region" if self.per_class_regions else "+one_per_region"
        fields["click_model"] = "+".join(sorted(self.click_models)) + (region_model if regions else "")
        for unit in COST_UNITS:
            value = spent[unit] if unit != "regions" or self.has_regions else None
            fields[f"labelled_{unit}"] = value
            total = totals.get(unit)
            fields[f"labelled_{unit}_fraction"] = value / total if value is not None and total else None
        return fields

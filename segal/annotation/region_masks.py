"""Choosing regions for annotators: what ``tools/select.py`` writes for an annotation run with ``dataset.regions``.

For each selected image, in ``<out>/regions_step<N>/``:

* ``<image>_mask.png``: 255 on the pixels of the regions to label, 0 elsewhere;
* ``<image>_regions.png``: region outlines over the image, coloured by score,
  the regions to label outlined in white, with a colour bar;

and beside them ``selection_step<N>.json`` and ``.csv``: one row per region
(rank, image id, image, region id, area in pixels, score, mask file). The
annotators label (at least) the masked pixels in the image's
``gtFine_labelIds`` file and leave the rest 0 (unlabelled); labels they add
outside the mask are kept when ``tools/train.py`` trains.
"""
import logging
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np

from ..reporting.figures import image_stem, write_region_figure
from ..scorers.base import Scorer, ScoringContext
from ..scorers.regions import RegionScores, RegionSelection
from ..utils.io import atomic_write_bytes
from ..utils.run_paths import beside_selection
from .selection_file import REGION_COLUMNS, relative_image, write_selection

logger = logging.getLogger("segal")

def rank_percentiles(scores: RegionScores) -> np.ndarray:
    """``[sum(counts)]`` each region's place in the selection order as a percentile: 100 for the first, 0 for the
    last (the order a tiered scorer gives, not the raw scores of its tiers)."""
    order = scores.order()
    position = np.empty(len(order), dtype=np.float64)
    position[order] = np.arange(len(order))
    return 100.0 * (1.0 - position / max(len(order) - 1, 1))


def write_region_selection(out: Path, ctx: ScoringContext, scorer: Scorer, selection: RegionSelection,
                           scores: RegionScores, meta: dict, predictions: Dict[int, Path]) -> List[dict]:
    """Writes the masks, the overlays and the JSON/CSV of a region selection; returns the JSON's entries.

    ``predictions`` names each image's predicted label map (:mod:`.predictions`), recorded in its entries.
    """
    folder = beside_selection(out, "regions")
    folder.mkdir(parents=True, exist_ok=True)
    images_in_order = list(dict.fromkeys(selection.image_ids.tolist()))
    starts = dict(zip(scores.image_ids.tolist(), (np.cumsum(scores.counts) - scores.counts).tolist()))
    ranks = rank_percentiles(scores)
    masks = {}
    for rank, image in enumerate(images_in_order, 1):
        chosen = np.sort(selection.region_ids[selection.image_ids == image])
        region_map = ctx.dataset.region_map(image)
        stem = image_stem(str(ctx.dataset.image_path(image)))
        masks[image] = folder / f"{stem}_mask.png"
        atomic_write_bytes(masks[image], cv2.imencode(".png", np.isin(region_map, chosen).astype(np.uint8) * 255)[1]
                           .tobytes())
        count = int(region_map.max()) + 1
        write_region_figure(folder / f"{stem}_regions.png", ctx.dataset.read_image(image), region_map,
                            ranks[starts[image]: starts[image] + count], chosen,
                            f"image {rank} of {len(images_in_order)}: {stem} ({type(scorer).__name__}, "
                            f"{len(chosen)} regions to label)", scorer.region_score_name)
    entries = [{"rank": rank, "id": int(image), "image": str(ctx.dataset.image_path(int(image))),
                **relative_image(ctx.dataset, int(image)),
                "region": int(region), "area": int(area), "score": float(score), "mask": str(masks[int(image)]),
                "prediction": str(predictions[int(image)])}
               for rank, (image, region, area, score) in enumerate(
                   zip(selection.image_ids, selection.region_ids, selection.areas, selection.scores), 1)]
    write_selection(out, meta, entries, REGION_COLUMNS)
    logger.info("%d regions of %d images to label: masks and overlays in %s", len(entries), len(images_in_order),
                folder)
    return entries

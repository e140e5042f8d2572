"""Class-balanced region ranking: regions whose predicted class is rare among the labelled pixels come first.

With ``loop.region_class_balance=beta``, each region's score is weighted by
its predicted dominant class ``c`` (the most frequent predicted class of its
pixels): ``w_c = ((n_max + 1) / (n_c + 1)) ** beta``, where ``n_c`` counts the
labelled pixels of class ``c`` (whole images and labelled regions, as the
oracle answered them) and ``n_max`` the most frequent class's. A positive
score is multiplied by ``w_c`` and a negative one divided by it, so a rare
class always moves a region up. This is the class-aware acquisition of Cai et
al. (CVPR 2021) in a form that works for scores of any sign. Finding the
predicted classes costs one inference pass over the candidate images.
"""
from typing import Dict

import numpy as np
import torch

from ..data.partial_labels import partial_label
from ..data.pool import ActivePool
from ..data.region_pool import RegionLabels
from ..scorers.base import ScoringContext
from ..scorers.region_means import sample_regions
from ..scorers.regions import RegionScores
from ..utils.distributed import gather_arrays, shard


@torch.no_grad()
def predicted_region_classes(ctx: ScoringContext, scores: RegionScores) -> np.ndarray:
    """``[sum(counts)]`` the most frequent predicted class of each region (sharded over ranks like scoring)."""
    ctx.model.eval()
    num_classes = ctx.dataset.num_classes
    local, found = shard(scores.image_ids), []
    for batch in ctx.batches(local, desc="predicted classes of the regions"):
        predicted = ctx.logits(batch["inputs"]).argmax(1).cpu().numpy()  # [B, h, w]
        for image, labels in zip(batch["id"].tolist(), predicted):
            full = ctx.dataset.region_map(image)
            regions, count = sample_regions(full, labels.shape), int(full.max()) + 1
            votes = np.bincount(regions.ravel() * num_classes + labels.ravel(), minlength=count * num_classes)
            found.append(votes.reshape(count, num_classes).argmax(1))
    return gather_arrays(np.concatenate(found) if found else np.zeros(0, dtype=np.int64))


def labelled_class_pixels(dataset, pool: ActivePool, regions: RegionLabels, mode: str,
                          cache: Dict[int, np.ndarray]) -> np.ndarray:
    """``[C]`` labelled pixels per class: whole labelled images (cached in ``cache``) and the labelled regions."""
    num_classes = dataset.num_classes
    counts = np.zeros(num_classes, dtype=np.int64)
    for image in pool.labelled_ids().tolist():
        if image not in cache:
            cache[image] = np.bincount(dataset.read(image)[1].ravel(), minlength=256)[:num_classes]
        counts += cache[image]
    for image in regions.images().tolist():
        answer = partial_label(dataset.read(image)[1], dataset.region_map(image), regions.labelled(image), mode)
        counts += np.bincount(answer.ravel(), minlength=256)[:num_classes]
    return counts


def class_balance_of(beta, region_label: str, dataset, pool: ActivePool, regions: RegionLabels,
                     cache: Dict[int, np.ndarray]):
    """``(beta, labelled pixels per class)`` for ``loop.region_class_balance=beta``, or ``None`` when it is off.

    ``region_label`` says how the oracle answered a labelled region (``'dominant'`` or ``'exact'``).
    """
    if beta is None:
        return None
    return beta, labelled_class_pixels(dataset, pool, regions, region_label, cache)


def class_weights(class_pixels: np.ndarray, power: float) -> np.ndarray:
    """``[C]`` ``((n_max + 1) / (n_c + 1)) ** power``: 1 for the most labelled class, more for rarer ones."""
    return ((class_pixels.max() + 1.0) / (class_pixels + 1.0)) ** power


def balanced(scores: RegionScores, predicted: np.ndarray, weights: np.ndarray) -> RegionScores:
    """The scores weighted by their region's predicted class (positive ones multiplied, negative ones divided)."""
    w = weights[predicted]
    adjusted = np.where(scores.scores >= 0, scores.scores * w, scores.scores / w)
    return RegionScores(scores.image_ids, scores.counts, adjusted, scores.tier)

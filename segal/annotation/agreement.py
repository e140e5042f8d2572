"""How well several annotators of one image agree: the mean intersection over union of their label maps."""
from itertools import combinations
from typing import Sequence

import numpy as np


def pair_iou(first: np.ndarray, second: np.ndarray, unlabelled: int) -> float:
    """Mean IoU over the classes either ``[H, W]`` label map holds (``unlabelled`` is no class); 1 when neither
    labels anything."""
    classes = np.setdiff1d(np.union1d(np.unique(first), np.unique(second)), [unlabelled])
    if not len(classes):
        return 1.0
    ious = [np.logical_and(first == c, second == c).sum() / np.logical_or(first == c, second == c).sum()
            for c in classes]
    return float(np.mean(ious))


def agreement(maps: Sequence[np.ndarray], unlabelled: int) -> float:
    """The mean of :func:`pair_iou` over every pair of two or more annotators' ``[H, W]`` label maps."""
    return float(np.mean([pair_iou(a, b, unlabelled) for a, b in combinations(maps, 2)]))

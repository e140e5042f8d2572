"""Partial label maps: what an annotator's region labels give a segmentation model to train on.

The simulated oracle answers a labelled region in one of two ways
(``loop.oracle=dict(type='simulated', region_label=...)``):

* ``'dominant'`` (one click, as in Cai et al.): every pixel of the region gets
  the region's most frequent true train id, void (255) included in the count;
  a region whose most frequent value is void adds no label (its click is still
  spent). Ties go to the lower train id.
* ``'exact'``: the region's true labels, pixel by pixel.

Everything outside the labelled regions is 255 (ignored by the loss).
"""
from typing import Dict, Sequence, Tuple

import numpy as np
from torch.utils.data import Dataset

from ..errors import InvalidValue
from ..run_mode import REGION_LABELS
from .region_pool import RegionLabels

IGNORE = 255


def dominant_labels(label: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """``[R]`` the most frequent value of ``[H, W]`` uint8 ``label`` in each region of ``[H, W]`` ``regions``."""
    num_regions = int(regions.max()) + 1
    counts = np.bincount(regions.ravel() * 256 + label.ravel(), minlength=num_regions * 256)
    return counts.reshape(num_regions, 256).argmax(1).astype(np.uint8)


def partial_label(label: np.ndarray, regions: np.ndarray, labelled: np.ndarray, mode: str) -> np.ndarray:
    """The label an annotator gives for the ``labelled`` region ids: ``[H, W]`` uint8, 255 elsewhere.

    Args:
        label: ``[H, W]`` uint8 true train ids.
        regions: ``[H, W]`` region ids.
        labelled: The labelled region ids.
        mode: ``'dominant'`` or ``'exact'`` (see the module).
    """
    if mode not in REGION_LABELS:
        raise InvalidValue(f"loop.oracle.region_label must be one of {REGION_LABELS}, got {mode!r}")
    inside = np.zeros(int(regions.max()) + 1, dtype=bool)
    inside[np.asarray(labelled, dtype=np.int64)] = True
    mask = inside[regions]
    if mode == "exact":
        return np.where(mask, label, IGNORE).astype(np.uint8)
    answer = np.full(len(inside), IGNORE, dtype=np.uint8)
    answer[inside] = dominant_labels(label, regions)[inside]
    return answer[regions]


class WithRegionLabels(Dataset):
    """``dataset`` whose partly labelled images train on the oracle's answers for their labelled regions.

    Images without region labels (the initial set, the holdout, the test
    split) read their full labels as before. The answers are worked out once,
    when the view is made, and kept as the labelled pixels' positions and
    values: a load then reads only the image, not its full label and region map.

    Args:
        dataset: A segmentation dataset with ``read``, ``read_image``, ``region_map`` and ``transformed``.
        region_labels: Which regions of which images are labelled.
        mode: ``'dominant'`` or ``'exact'``.
    """

    def __init__(self, dataset, region_labels: RegionLabels, mode: str):
        self.dataset, self.mode = dataset, mode
        self.labelled: Dict[int, np.ndarray] = {int(i): region_labels.labelled(i) for i in region_labels.images()}
        self.answers: Dict[int, Tuple[Tuple[int, int], np.ndarray, np.ndarray]] = {}
        for image in self.labelled:
            answer = self.answer(image)
            positions = np.flatnonzero(answer != IGNORE)
            self.answers[image] = answer.shape, positions.astype(np.int64), answer.ravel()[positions]

    def __getattr__(self, name):  # the dataset's attributes (classes, ignore_index, ...); safe to unpickle
        if name == "dataset" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int) -> dict:
        return self.load(idx)

    def answer(self, image: int) -> np.ndarray:
        """The oracle's ``[H, W]`` uint8 answer for a partly labelled image, read from its label and region map."""
        return partial_label(self.dataset.read(image)[1], self.dataset.region_map(image), self.labelled[image],
                             self.mode)

    def cached_answer(self, image: int) -> np.ndarray:
        """:meth:`answer`, rebuilt from the positions and values kept when the view was made."""
        shape, positions, values = self.answers[image]
        answer = np.full(shape[0] * shape[1], IGNORE, dtype=np.uint8)
        answer[positions] = values
        return answer.reshape(shape)

    def labelled_share(self, ids: Sequence[int]) -> np.ndarray:
        """``[N]`` the share of each id's pixels that trains: its labelled pixels over its pixels, 1 for an image
        labelled whole."""
        return np.array([len(self.answers[i][1]) / np.prod(self.answers[i][0]) if i in self.answers else 1.0
                         for i in map(int, ids)])

    def load(self, idx: int, train: bool = False, with_target: bool = True) -> dict:
        if idx not in self.labelled or not with_target:
            return self.dataset.load(idx, train=train, with_target=with_target)
        return self.dataset.transformed(self.dataset.read_image(idx), self.cached_answer(idx), idx, train)

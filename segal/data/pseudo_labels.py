"""Training on pseudo-labels: a dataset whose targets for some ids are the model's predictions."""
from typing import Dict, List, Sequence

import torch
from torch.utils.data import Dataset

from ..errors import InvalidValue


class WithPseudoLabels(Dataset):
    """``dataset`` with the targets of ``ids`` replaced by ``labels`` (the model's predicted classes).

    For classification datasets held in memory (``__getitems__``); the
    underlying dataset and its true labels are left untouched.

    Args:
        dataset: A classification dataset addressed by global id.
        ids: The pseudo-labelled global ids.
        labels: Their predicted classes.

    Raises:
        ValueError: ``dataset`` reads its samples from files (segmentation):
            pixel-wise pseudo-labels are not supported.
    """

    def __init__(self, dataset, ids: Sequence[int], labels: Sequence[int]):
        if hasattr(dataset, "load") or not hasattr(dataset, "__getitems__"):
            raise InvalidValue("loop.pseudo_labels needs a classification dataset held in memory; pixel-wise "
                             "pseudo-labels for segmentation are not supported")
        self.dataset = dataset
        self.pseudo: Dict[int, int] = {int(i): int(y) for i, y in zip(ids, labels)}
        self.task, self.ignore_index = dataset.task, dataset.ignore_index
        self.num_classes, self.input_shape = dataset.num_classes, dataset.input_shape

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int) -> dict:
        batch = self.__getitems__([idx])
        return {"inputs": batch["inputs"][0], "target": batch["target"][0], "id": batch["id"][0]}

    def __getitems__(self, ids: List[int]) -> Dict[str, torch.Tensor]:
        batch = self.dataset.__getitems__(ids)
        target = batch["target"].clone()
        for position, sample_id in enumerate(ids):
            if int(sample_id) in self.pseudo:
                target[position] = self.pseudo[int(sample_id)]
        return {**batch, "target": target}

"""A confusion matrix accumulated over a whole dataset, and the metrics it gives.

Works the same for classification (``[B]`` targets) and segmentation
(``[B, H, W]`` targets): every element counts once. Metrics come from the
summed matrix, never from per-image averages.
"""
from typing import Optional

import numpy as np
import torch

from ..errors import InvalidValue


class ConfusionMatrix:
    """``matrix[t, p]`` counts elements of true class ``t`` predicted as ``p``.

    Args:
        num_classes: Number of classes.
        ignore_index: Target value that is not counted (e.g. 255), or ``None``.
    """

    def __init__(self, num_classes: int, ignore_index: Optional[int] = None):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Adds predictions and targets of the same shape (any shape)."""
        if pred.shape != target.shape:
            raise InvalidValue(f"pred shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
        pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
        if self.ignore_index is not None:
            keep = target != self.ignore_index
            pred, target = pred[keep], target[keep]
        if len(target) and (target.min() < 0 or target.max() >= self.num_classes):
            raise InvalidValue(f"target values outside [0, {self.num_classes}): {torch.unique(target).tolist()}")
        flat = torch.bincount(target * self.num_classes + pred, minlength=self.num_classes**2)
        self.matrix += flat.reshape(self.num_classes, self.num_classes).cpu().numpy()

    @property
    def total(self) -> int:
        return int(self.matrix.sum())

    def accuracy(self) -> float:
        """Fraction of counted elements predicted correctly (pixel accuracy for segmentation)."""
        return float(np.trace(self.matrix) / max(self.total, 1))

    def per_class_accuracy(self) -> np.ndarray:
        """``[C]`` recall of each class; NaN for a class absent from the targets."""
        support = self.matrix.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.matrix) / support

    def per_class_iou(self) -> np.ndarray:
        """``[C]`` intersection over union; NaN for a class absent from targets and predictions."""
        tp = np.diag(self.matrix)
        union = self.matrix.sum(axis=0) + self.matrix.sum(axis=1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return tp / union

    def mean_iou(self) -> float:
        """Mean IoU over the classes that occur in targets or predictions."""
        iou = self.per_class_iou()
        return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")

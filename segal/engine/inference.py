"""Test-split and holdout evaluation: a confusion matrix and the mean loss, summed over ranks."""
from typing import Optional, Tuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..evaluation import ConfusionMatrix
from ..models.outputs import iterate_logits, loss_per_element
from ..utils.distributed import all_reduce_sum


def evaluate(
    model: nn.Module, loader: DataLoader, device: torch.device, num_classes: int, ignore_index: Optional[int] = None,
    amp_dtype: Optional[torch.dtype] = None,
) -> Tuple[ConfusionMatrix, float]:
    """Accumulates a confusion matrix and the mean loss over ``loader``.

    Under torch.distributed, every rank passes a loader over its shard of the
    ids (:func:`~segal.utils.distributed.shard`); the matrices and loss sums
    are summed over ranks, so every rank returns what one process would.

    Args:
        amp_dtype: Run the forward passes under autocast in this dtype (the loss is taken in float32).

    Returns:
        ``(confusion, loss)``, the loss averaged over every counted element.
    """
    confusion = ConfusionMatrix(num_classes, ignore_index)
    loss_sum, count = 0.0, 0
    for batch, logits in iterate_logits(model, loader, device, amp_dtype):
        target = batch["target"]
        confusion.update(logits.argmax(1), target)
        losses = loss_per_element(logits.float(), target, ignore_index)
        counted = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
        loss_sum += float(losses[counted].double().sum())
        count += int(counted.sum())
    confusion.matrix = all_reduce_sum(confusion.matrix)
    loss_sum, count = all_reduce_sum(np.array([loss_sum, count], dtype=np.float64))
    return confusion, float(loss_sum) / max(int(count), 1)

"""Forward passes over a set of ids, and test-split evaluation."""
from typing import Iterator, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from ..evaluation import ConfusionMatrix
from ..utils.device import to_device
from ..utils.distributed import all_reduce_sum
from ..utils.precision import autocast


def loss_per_element(logits: torch.Tensor, target: torch.Tensor, ignore_index: Optional[int]) -> torch.Tensor:
    """Cross-entropy of each sample (``[B]``) or pixel (``[B, H, W]``); ignored pixels give 0."""
    ignore_index = -100 if ignore_index is None else ignore_index
    return F.cross_entropy(logits, target, reduction="none", ignore_index=ignore_index)


def mean_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: Optional[int]) -> torch.Tensor:
    """Mean cross-entropy over the counted elements of a batch."""
    return F.cross_entropy(logits, target, ignore_index=-100 if ignore_index is None else ignore_index)


@torch.no_grad()
def iterate_logits(model: nn.Module, loader: DataLoader, device: torch.device,
                   amp_dtype: Optional[torch.dtype] = None) -> Iterator[Tuple[dict, torch.Tensor]]:
    """Yields ``(batch, logits)`` for each batch of ``loader``, with the model in eval mode.

    With ``amp_dtype``, the forward pass runs under autocast (the logits are in that dtype).
    """
    model.eval()
    for batch in loader:
        batch = to_device(batch, device)
        with autocast(device, amp_dtype):
            logits = model(batch["inputs"])
        yield batch, logits


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

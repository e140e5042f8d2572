"""Evaluation passes: a confusion matrix and the mean loss (test split, holdout, selected samples), or each
sample's predicted and true class (classification pool), gathered over ranks."""
from typing import Optional, Tuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..data.loading import make_loader
from ..evaluation import ConfusionMatrix
from ..models.outputs import iterate_logits, loss_per_element
from ..settings import TrainSettings
from ..utils.distributed import all_reduce_sum, gather_arrays, shard
from ..utils.precision import autocast_dtype


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


def predict_classes(model: nn.Module, loader: DataLoader, device: torch.device,
                    amp_dtype: Optional[torch.dtype] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each sample's predicted and true class (classification), in id order, gathered over ranks.

    Returns:
        ``(ids [N], predicted [N], target [N])``, sorted by id.
    """
    ids, predicted, targets = ([np.zeros(0, dtype=np.int64)] for _ in range(3))
    for batch, logits in iterate_logits(model, loader, device, amp_dtype):
        ids.append(batch["id"].cpu().numpy().astype(np.int64))
        predicted.append(logits.argmax(1).cpu().numpy().astype(np.int64))
        targets.append(batch["target"].cpu().numpy().astype(np.int64))
    ids, predicted, targets = (gather_arrays(np.concatenate(parts)) for parts in (ids, predicted, targets))
    order = np.argsort(ids, kind="stable")
    return ids[order], predicted[order], targets[order]


def _loader(dataset, ids: np.ndarray, settings: TrainSettings, device: torch.device) -> DataLoader:
    """This rank's shard of ``ids``, in evaluation batches."""
    return make_loader(dataset, shard(ids), settings.eval_batch_size, settings.num_workers,
                       pin_memory=device.type == "cuda")


def evaluate_ids(model: nn.Module, dataset, ids: np.ndarray, settings: TrainSettings, device: torch.device,
                 num_classes: int, ignore_index: Optional[int]) -> Tuple[ConfusionMatrix, float]:
    """:func:`evaluate` on ``ids`` of ``dataset`` (sharded over ranks), in ``train``'s batch size and precision."""
    return evaluate(model, _loader(dataset, ids, settings, device), device, num_classes, ignore_index,
                    autocast_dtype(settings.amp, device))


def predict_ids(model: nn.Module, dataset, ids: np.ndarray, settings: TrainSettings,
                device: torch.device) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`predict_classes` on ``ids`` of ``dataset`` (sharded over ranks), in ``train``'s batch size and
    precision."""
    return predict_classes(model, _loader(dataset, ids, settings, device), device,
                           autocast_dtype(settings.amp, device))


def confusion_of(predicted: np.ndarray, target: np.ndarray, num_classes: int,
                 ignore_index: Optional[int]) -> ConfusionMatrix:
    """The confusion matrix of ``[N]`` predicted against ``[N]`` true classes (from :func:`predict_ids`)."""
    confusion = ConfusionMatrix(num_classes, ignore_index)
    confusion.update(torch.from_numpy(predicted), torch.from_numpy(target))
    return confusion

"""One training stage: Adam (or any registered optimizer) with early stopping on the holdout."""
import copy
import logging
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn
from tqdm import tqdm

from ..data.loading import make_loader
from ..registry import OPTIMIZERS, build
from .inference import evaluate, mean_loss, to_device

logger = logging.getLogger("segal")


MONITORS = ("loss", "accuracy", "miou")


@dataclass
class TrainSettings:
    """The ``train`` section of a config.

    Attributes:
        optimizer: Optimizer config without ``params``, e.g. ``dict(type='Adam', lr=1e-3)``.
            A fresh optimizer is built for every stage.
        batch_size: Training batch size.
        max_epochs: Upper bound on epochs per stage.
        patience: Stop after this many epochs without a better holdout value.
        monitor: What early stopping watches on the holdout: ``'loss'`` (lower is
            better), ``'accuracy'`` (pixel accuracy for segmentation) or ``'miou'``.
        eval_batch_size: Batch size for holdout and test passes.
        num_workers: DataLoader workers.
    """

    optimizer: dict = field(default_factory=lambda: dict(type="Adam", lr=1e-3))
    batch_size: int = 32
    max_epochs: int = 100
    patience: int = 10
    monitor: str = "loss"
    eval_batch_size: int = 256
    num_workers: int = 0

    def __post_init__(self):
        if self.monitor not in MONITORS:
            raise ValueError(f"train.monitor must be one of {MONITORS}, got {self.monitor!r}")
        for name in ("batch_size", "max_epochs", "patience", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class StageResult:
    """What a training stage did, with the holdout loss of the epoch it kept."""

    epochs: int
    best_epoch: int
    holdout_loss: float


def _monitored(monitor: str, loss: float, confusion) -> float:
    """The monitored holdout value; higher is better."""
    if monitor == "loss":
        return -loss
    return confusion.accuracy() if monitor == "accuracy" else confusion.mean_iou()


def train_stage(
    model: nn.Module,
    dataset,
    train_ids: Sequence[int],
    holdout_ids: Sequence[int],
    settings: TrainSettings,
    device: torch.device,
    seed: int,
    progress: bool = True,
    desc: str = "train",
) -> StageResult:
    """Trains ``model`` in place from its current weights with a fresh optimizer.

    The holdout is evaluated after every epoch; training stops once
    ``patience`` epochs pass without a better value, and the weights of the
    best epoch are restored.

    Args:
        model: The model; its weights are the starting point.
        dataset: A dataset returning ``dict(inputs, target, id)``.
        train_ids: Global ids of the labelled samples.
        holdout_ids: Global ids of the holdout (early stopping).
        settings: The ``train`` config.
        device: Where to train.
        seed: Seeds shuffling and dropout, so a stage is reproducible.
        progress: Show a progress bar over epochs.
        desc: Label of the progress bar.
    """
    torch.manual_seed(seed)
    ignore_index = getattr(dataset, "ignore_index", None)
    optimizer = build(OPTIMIZERS, dict(settings.optimizer), "train.optimizer", params=model.parameters())
    holdout_loader = make_loader(dataset, holdout_ids, settings.eval_batch_size, num_workers=settings.num_workers)

    best_value, best_epoch, best_loss, best_state = -float("inf"), 0, float("nan"), None
    epochs = tqdm(
        range(1, settings.max_epochs + 1), desc=desc, disable=None if progress else True, leave=False, unit="epoch"
    )
    for epoch in epochs:
        loader = make_loader(
            dataset, train_ids, settings.batch_size, shuffle=True, seed=seed + epoch,
            num_workers=settings.num_workers, train=True,
            drop_last=len(train_ids) % settings.batch_size == 1,  # batch norm cannot train on one sample
        )
        model.train()
        for batch in loader:
            batch = to_device(batch, device)
            optimizer.zero_grad(set_to_none=True)
            loss = mean_loss(model(batch["inputs"]), batch["target"], ignore_index)
            loss.backward()
            optimizer.step()
        confusion, loss = evaluate(model, holdout_loader, device, dataset.num_classes, ignore_index)
        value = _monitored(settings.monitor, loss, confusion)
        epochs.set_postfix(holdout_loss=f"{loss:.4f}", monitored=f"{value:.4f}", refresh=False)
        if value > best_value:
            best_value, best_epoch, best_loss = value, epoch, loss
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= settings.patience:
            break
    model.load_state_dict(best_state)
    return StageResult(epochs=epoch, best_epoch=best_epoch, holdout_loss=best_loss)

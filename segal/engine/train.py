"""One training stage: Adam (or any registered optimizer) with early stopping on the holdout."""
import copy
import logging
import math
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..data.loading import make_loader, make_train_loader
from ..errors import InvalidValue, SegalError
from ..models.outputs import mean_loss
from ..registry import OPTIMIZERS, build
from ..settings import TrainSettings
from ..utils.device import to_device
from ..utils.distributed import all_reduce_sum, broadcast_from_main, is_distributed, shard
from ..utils.precision import autocast, autocast_dtype
from ..utils.progress import Progress
from .inference import evaluate

logger = logging.getLogger("segal")


# A mean cross-entropy this large means the weights have blown up (a sane model's stays near log(classes)).
DIVERGED_LOSS = 1e4
MONITOR_NAMES = {"loss": "loss", "accuracy": "accuracy", "miou": "mIoU"}  # as progress and log lines show them


class DivergenceError(SegalError, RuntimeError):
    """Training produced a non-finite loss: the learning rate is too high or the data is broken."""


@dataclass
class EpochInfo:
    """What one training epoch did.

    Attributes:
        epoch: 1-based epoch of the stage.
        train_loss: Mean training loss over the epoch's samples.
        holdout_loss: Mean cross-entropy on the holdout after the epoch.
        monitor: The name of the monitored holdout value (``loss``, ``accuracy``, ``miou``).
        holdout_value: The monitored value after the epoch.
        best_epoch: The epoch with the best monitored value so far.
        seconds: Wall time of the epoch, holdout evaluation included.
    """

    epoch: int
    train_loss: float
    holdout_loss: float
    monitor: str
    holdout_value: float
    best_epoch: int
    seconds: float


@dataclass
class StageResult:
    """What a training stage did, with the holdout loss of the epoch it kept."""

    epochs: int
    best_epoch: int
    holdout_loss: float


@dataclass
class EarlyStopping:
    """Watches the monitored holdout value: the best epoch so far, its holdout loss and weights, and when to stop.

    Attributes:
        settings: The ``train`` config (``monitor``, ``patience``, ``min_epochs``, ``max_epochs``).
        best_value: The best monitored value so far (lower loss, higher accuracy or mIoU is better).
        best_epoch: Its epoch; 0 before the first.
        best_loss: The holdout loss at that epoch.
        best_state: The model's weights at that epoch.
    """

    settings: TrainSettings
    best_value: Optional[float] = None
    best_epoch: int = 0
    best_loss: float = float("nan")
    best_state: Optional[dict] = None

    def monitored(self, loss: float, confusion) -> float:
        """The monitored value of an epoch's holdout pass."""
        monitor = self.settings.monitor
        if monitor == "loss":
            return loss
        return confusion.accuracy() if monitor == "accuracy" else confusion.mean_iou()

    def observe(self, epoch: int, value: float, loss: float, model: nn.Module) -> None:
        """Keeps the epoch's weights if its value is the best so far."""
        best = self.best_value
        if best is None or (value < best if self.settings.monitor == "loss" else value > best):
            self.best_value, self.best_epoch, self.best_loss = value, epoch, loss
            self.best_state = copy.deepcopy(model.state_dict())

    def last_epoch(self) -> int:
        """The epoch at which the stage stops if nothing improves from now on."""
        settings = self.settings
        return min(settings.max_epochs, max(settings.min_epochs, self.best_epoch + settings.patience))

    def should_stop(self, epoch: int) -> bool:
        """Whether ``patience`` epochs have passed without a better value (never before ``min_epochs``)."""
        return epoch >= self.settings.min_epochs and epoch - self.best_epoch >= self.settings.patience


#: The keys of a saved stage: the epoch, what the optimisation carries over, early stopping's memory, the RNG.
STAGE_KEYS = ("epoch", "model", "optimizer", "scaler", "schedule", "best_value", "best_epoch", "best_loss",
              "best_state", "rng", "cuda_rng")


class TrainingStage:
    """One stage's model, optimizer, loaders and early stopping, built in a fixed order from the stage seed.

    Under torch.distributed (every rank builds it with the same arguments)
    the model trains as ``DistributedDataParallel``, each rank on its share of
    every epoch (``settings.batch_size`` per rank); the holdout is evaluated
    in shards and summed, and rank 0 decides when to stop, so every rank stops
    at the same epoch with the same weights.

    Args:
        model: The model; its weights are the starting point.
        dataset: A dataset returning ``dict(inputs, target, id)``.
        train_ids: Global ids of the labelled samples.
        holdout_ids: Global ids of the holdout (early stopping).
        settings: The ``train`` config.
        device: Where to train.
        seed: Seeds shuffling and dropout, so a stage is reproducible.
        desc: What the stage is called in messages, e.g. ``'train step 3'``.
        labelled_shares: ``[N]`` the labelled share of each train id's pixels: an epoch then draws partly
            labelled ids by their labelled pixels (:class:`~segal.data.loading.LabelledPixelShuffle`).
    """

    def __init__(self, model: nn.Module, dataset, train_ids: Sequence[int], holdout_ids: Sequence[int],
                 settings: TrainSettings, device: torch.device, seed: int, desc: str,
                 labelled_shares: Optional[Sequence[float]] = None):
        torch.manual_seed(seed)
        self.model, self.dataset, self.settings, self.device, self.desc = model, dataset, settings, device, desc
        self.ignore_index = getattr(dataset, "ignore_index", None)
        self.amp_dtype = autocast_dtype(settings.amp, device)
        self.channels_last = _use_channels_last(settings, device, dataset)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        self.trained = _parallel(model, settings, device)
        self.optimizer = build(OPTIMIZERS, dict(settings.optimizer), "train.optimizer", params=model.parameters())
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        pin = device.type == "cuda"
        self.train_loader = make_train_loader(dataset, train_ids, settings.batch_size, seed, settings.num_workers, pin,
                                              labelled_shares)
        self.schedule = _poly_schedule(self.optimizer, settings, len(self.train_loader))
        self.holdout_loader = make_loader(dataset, shard(holdout_ids), settings.eval_batch_size,
                                          settings.num_workers, pin_memory=pin, persistent=True)
        self.stopping = EarlyStopping(settings)

    def restore(self, saved: dict) -> int:
        """Continues a stage saved by :meth:`snapshot`; returns the first epoch still to train."""
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scaler.load_state_dict(saved["scaler"])
        self.schedule.load_state_dict(saved["schedule"])
        self.stopping = EarlyStopping(self.settings, saved["best_value"], saved["best_epoch"], saved["best_loss"],
                                      saved["best_state"])
        torch.set_rng_state(saved["rng"])
        if saved.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["cuda_rng"])
        return saved["epoch"] + 1

    def snapshot(self, epoch: int) -> dict:
        """Everything needed to continue after ``epoch`` exactly as without an interruption (:data:`STAGE_KEYS`)."""
        stopping = self.stopping
        values = (epoch, self.model.state_dict(), self.optimizer.state_dict(), self.scaler.state_dict(),
                  self.schedule.state_dict(), stopping.best_value, stopping.best_epoch, stopping.best_loss,
                  stopping.best_state, torch.get_rng_state(),
                  torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None)
        return dict(zip(STAGE_KEYS, values))

    def train_epoch(self, epoch: int) -> float:
        """One pass over the training set; the mean training loss over every rank's samples."""
        self.train_loader.sampler.set_epoch(epoch)
        self.model.train()
        loss_sum, seen = torch.zeros((), dtype=torch.float64, device=self.device), 0
        for batch in self.train_loader:
            batch = to_device(batch, self.device)
            inputs = batch["inputs"]
            if self.channels_last:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            self.optimizer.zero_grad(set_to_none=True)
            with autocast(self.device, self.amp_dtype):
                logits = self.trained(inputs)
            loss = mean_loss(logits.float(), batch["target"], self.ignore_index)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.schedule.step()
            n = len(batch["target"])
            loss_sum += loss.detach().double() * n
            seen += n
        loss_sum, seen = all_reduce_sum(np.array([float(loss_sum), seen], dtype=np.float64))
        return float(loss_sum) / max(seen, 1)

    def holdout_epoch(self, epoch: int, train_loss: float, started: float) -> EpochInfo:
        """Evaluates the holdout after ``epoch``, refuses a diverged loss, and lets early stopping see it."""
        confusion, holdout_loss = evaluate(self.model, self.holdout_loader, self.device, self.dataset.num_classes,
                                           self.ignore_index, self.amp_dtype)
        _check_finite(self.desc, epoch, train_loss, holdout_loss, self.settings)
        value = self.stopping.monitored(holdout_loss, confusion)
        self.stopping.observe(epoch, value, holdout_loss, self.model)
        return EpochInfo(epoch, train_loss, holdout_loss, self.settings.monitor, value, self.stopping.best_epoch,
                         time.perf_counter() - started)

    def finish(self, epoch: int) -> StageResult:
        """Restores the best epoch's weights."""
        if self.stopping.best_state is None:
            raise DivergenceError(f"{self.desc}: no epoch was trained (train.max_epochs={self.settings.max_epochs})")
        self.model.load_state_dict(self.stopping.best_state)
        return StageResult(epochs=epoch, best_epoch=self.stopping.best_epoch, holdout_loss=self.stopping.best_loss)


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
    on_epoch: Optional[Callable[[EpochInfo], None]] = None,
    saved: Optional[dict] = None,
    save: Optional[Callable[[dict], None]] = None,
    labelled_shares: Optional[Sequence[float]] = None,
) -> StageResult:
    """Trains ``model`` in place from its current weights with a fresh optimizer (see :class:`TrainingStage`).

    The holdout is evaluated after every epoch; training stops once
    ``patience`` epochs pass without a better value, and the weights of the
    best epoch are restored. Each epoch is logged (to the log file always; to
    the console when no progress bar shows it).

    Args:
        model, dataset, train_ids, holdout_ids, settings, device, seed: As for :class:`TrainingStage`.
        progress: Show progress (a bar on a terminal, periodic lines otherwise).
        desc: What the stage is called in progress and log lines, e.g. ``'train step 3'``.
        on_epoch: Called after every epoch with its :class:`EpochInfo`.
        saved: A stage in progress, as ``save`` received it: training continues
            after its epoch exactly as it would have without the interruption.
        save: Called with the stage's state (:data:`STAGE_KEYS`) every ``settings.checkpoint_interval`` epochs.
        labelled_shares: As for :class:`TrainingStage` (``None``: every id trains every epoch).

    Raises:
        DivergenceError: The training or holdout loss became NaN or infinite;
            the message names the stage, the epoch and the setting to change.
    """
    stage = TrainingStage(model, dataset, train_ids, holdout_ids, settings, device, seed, desc, labelled_shares)
    first_epoch = stage.restore(saved) if saved is not None else 1
    # The bar's length is the epoch at which early stopping would stop if nothing improves from now on.
    bar = Progress(stage.stopping.last_epoch(), desc, unit="epoch", enabled=progress, initial=first_epoch - 1)
    epoch = first_epoch - 1
    with bar:
        for epoch in range(first_epoch, settings.max_epochs + 1):
            started = time.perf_counter()
            info = stage.holdout_epoch(epoch, stage.train_epoch(epoch), started)
            bar.set_total(stage.stopping.last_epoch())
            _report_epoch(desc, info, stage.stopping, bar, progress)
            if on_epoch is not None:
                on_epoch(info)
            if broadcast_from_main(stage.stopping.should_stop(epoch)):
                break
            if save is not None and settings.checkpoint_interval and epoch % settings.checkpoint_interval == 0:
                save(stage.snapshot(epoch))
    return stage.finish(epoch)


def _report_epoch(desc: str, info: EpochInfo, stopping: EarlyStopping, bar: Progress, progress: bool) -> None:
    """The epoch on the progress bar, and as a log line (in the log file always; on the console without a bar)."""
    shown = MONITOR_NAMES[info.monitor]
    best = f"best {stopping.best_value:.4f} at epoch {stopping.best_epoch}"
    bar.update(postfix=f"train loss {info.train_loss:.4f}, holdout {shown} {info.holdout_value:.4f} ({best})")
    logger.info("%s epoch %d: train loss %.4f, holdout %s %.4f (%s), %.1fs", desc, info.epoch, info.train_loss,
                shown, info.holdout_value, best, info.seconds, extra={"file_only": bar.shows_bar or not progress})


def _parallel(model: nn.Module, settings: TrainSettings, device: torch.device) -> nn.Module:
    """``model`` itself in a single process; under torch.distributed, a ``DistributedDataParallel`` of it."""
    if not is_distributed():
        return model
    if settings.sync_bn:
        if device.type != "cuda":
            raise InvalidValue("train.sync_bn=True needs CUDA devices (nn.SyncBatchNorm); set it to False on CPU")
        _convert_to_sync_batchnorm(model)
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def _convert_to_sync_batchnorm(model: nn.Module) -> None:
    """Replaces the batch-norm layers of ``model``'s children in place (their state dict keys stay the same)."""
    for name, child in model.named_children():
        setattr(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))


def _poly_schedule(optimizer, settings: TrainSettings, iterations_per_epoch: int):
    """mmsegmentation's poly decay over the stage's maximum length; constant without ``poly_power``."""
    total = max(1, settings.max_epochs * iterations_per_epoch)
    power = settings.poly_power
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda iteration: 1.0 if power is None else max(0.0, 1 - iteration / total) ** power
    )


def _use_channels_last(settings: TrainSettings, device: torch.device, dataset) -> bool:
    if settings.channels_last is not None:
        return settings.channels_last
    return device.type == "cuda" and len(getattr(dataset, "input_shape", ())) == 3


def _check_finite(desc: str, epoch: int, train_loss: float, holdout_loss: float, settings: TrainSettings) -> None:
    """Stops a stage whose loss became NaN, infinite or absurdly large, naming the setting to change."""
    for which, loss in (("training", train_loss), ("holdout", holdout_loss)):
        if not math.isfinite(loss) or loss > DIVERGED_LOSS:
            raise DivergenceError(
                f"{desc} diverged at epoch {epoch}: the {which} loss became {loss:.4g}. Lower train.optimizer.lr "
                f"(now {settings.optimizer.get('lr')}); nothing of this step was committed"
            )

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
from ..registry import OPTIMIZERS, build
from ..settings import TrainSettings
from ..utils.device import to_device
from ..utils.distributed import all_reduce_sum, broadcast_from_main, is_distributed, shard
from ..utils.precision import autocast, autocast_dtype
from ..utils.progress import Progress
from .inference import evaluate, mean_loss

logger = logging.getLogger("segal")


# A mean cross-entropy this large means the weights have blown up (a sane model's stays near log(classes)).
DIVERGED_LOSS = 1e4
MONITOR_NAMES = {"loss": "loss", "accuracy": "accuracy", "miou": "mIoU"}  # as progress and log lines show them


def _last_epoch(settings: TrainSettings, best_epoch: int) -> int:
    """The epoch at which early stopping stops if nothing improves after ``best_epoch``."""
    return min(settings.max_epochs, max(settings.min_epochs, best_epoch + settings.patience))


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


def _monitored(monitor: str, loss: float, confusion) -> float:
    """The monitored holdout value, as reported (lower loss, higher accuracy or mIoU is better)."""
    if monitor == "loss":
        return loss
    return confusion.accuracy() if monitor == "accuracy" else confusion.mean_iou()


def _improves(monitor: str, value: float, best: Optional[float]) -> bool:
    if best is None:
        return True
    return value < best if monitor == "loss" else value > best


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
) -> StageResult:
    """Trains ``model`` in place from its current weights with a fresh optimizer.

    The holdout is evaluated after every epoch; training stops once
    ``patience`` epochs pass without a better value, and the weights of the
    best epoch are restored. Each epoch is logged (to the log file always; to
    the console when no progress bar shows it).

    Under torch.distributed (every rank calls this with the same arguments)
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
        progress: Show progress (a bar on a terminal, periodic lines otherwise).
        desc: What the stage is called in progress and log lines, e.g. ``'train step 3'``.
        on_epoch: Called after every epoch with its :class:`EpochInfo`.
        saved: A stage in progress, as ``save`` received it: training continues
            after its epoch exactly as it would have without the interruption.
        save: Called with the stage's state every ``settings.checkpoint_interval`` epochs.

    Raises:
        DivergenceError: The training or holdout loss became NaN or infinite;
            the message names the stage, the epoch and the setting to change.
    """
    torch.manual_seed(seed)
    ignore_index = getattr(dataset, "ignore_index", None)
    amp_dtype = autocast_dtype(settings.amp, device)
    channels_last = _use_channels_last(settings, device, dataset)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    trained = _parallel(model, settings, device)
    optimizer = build(OPTIMIZERS, dict(settings.optimizer), "train.optimizer", params=model.parameters())
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    pin = device.type == "cuda"
    train_loader = make_train_loader(dataset, train_ids, settings.batch_size, seed, settings.num_workers, pin)
    schedule = _poly_schedule(optimizer, settings, len(train_loader))
    holdout_loader = make_loader(dataset, shard(holdout_ids), settings.eval_batch_size, settings.num_workers,
                                 pin_memory=pin, persistent=True)
    monitor = settings.monitor

    best_value, best_epoch, best_loss, best_state = None, 0, float("nan"), None
    first_epoch = 1
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scaler.load_state_dict(saved["scaler"])
        schedule.load_state_dict(saved["schedule"])
        best_value, best_epoch, best_loss, best_state = (saved["best_value"], saved["best_epoch"], saved["best_loss"],
                                                         saved["best_state"])
        torch.set_rng_state(saved["rng"])
        if saved.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["cuda_rng"])
        first_epoch = saved["epoch"] + 1
    # The bar's length is the epoch at which early stopping would stop if nothing improves from now on.
    bar = Progress(_last_epoch(settings, best_epoch), desc, unit="epoch", enabled=progress, initial=first_epoch - 1)
    epoch = first_epoch - 1
    with bar:
        for epoch in range(first_epoch, settings.max_epochs + 1):
            started = time.perf_counter()
            train_loader.sampler.set_epoch(epoch)
            model.train()
            loss_sum, seen = torch.zeros((), dtype=torch.float64, device=device), 0
            for batch in train_loader:
                batch = to_device(batch, device)
                inputs = batch["inputs"]
                if channels_last:
                    inputs = inputs.contiguous(memory_format=torch.channels_last)
                optimizer.zero_grad(set_to_none=True)
                with autocast(device, amp_dtype):
                    logits = trained(inputs)
                loss = mean_loss(logits.float(), batch["target"], ignore_index)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                schedule.step()
                n = len(batch["target"])
                loss_sum += loss.detach().double() * n
                seen += n
            loss_sum, seen = all_reduce_sum(np.array([float(loss_sum), seen], dtype=np.float64))
            train_loss = float(loss_sum) / max(seen, 1)
            confusion, holdout_loss = evaluate(model, holdout_loader, device, dataset.num_classes, ignore_index,
                                               amp_dtype)
            _check_finite(desc, epoch, train_loss, holdout_loss, settings)
            value = _monitored(monitor, holdout_loss, confusion)
            if _improves(monitor, value, best_value):
                best_value, best_epoch, best_loss = value, epoch, holdout_loss
                best_state = copy.deepcopy(model.state_dict())
            info = EpochInfo(epoch, train_loss, holdout_loss, monitor, value, best_epoch, time.perf_counter() - started)
            bar.set_total(_last_epoch(settings, best_epoch))
            shown = MONITOR_NAMES[monitor]
            bar.update(postfix=f"train loss {info.train_loss:.4f}, holdout {shown} {value:.4f} "
                               f"(best {best_value:.4f} at epoch {best_epoch})")
            logger.info(
                "%s epoch %d: train loss %.4f, holdout %s %.4f (best %.4f at epoch %d), %.1fs",
                desc, epoch, info.train_loss, shown, value, best_value, best_epoch, info.seconds,
                extra={"file_only": bar.shows_bar or not progress},  # the console's progress is the bar, or off
            )
            if on_epoch is not None:
                on_epoch(info)
            if broadcast_from_main(epoch >= settings.min_epochs and epoch - best_epoch >= settings.patience):
                break
            if save is not None and settings.checkpoint_interval and epoch % settings.checkpoint_interval == 0:
                save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                      "scaler": scaler.state_dict(), "schedule": schedule.state_dict(),
                      "best_value": best_value, "best_epoch": best_epoch, "best_loss": best_loss,
                      "best_state": best_state, "rng": torch.get_rng_state(),
                      "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None})
    if best_state is None:
        raise DivergenceError(f"{desc}: no epoch was trained (train.max_epochs={settings.max_epochs})")
    model.load_state_dict(best_state)
    return StageResult(epochs=epoch, best_epoch=best_epoch, holdout_loss=best_loss)


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

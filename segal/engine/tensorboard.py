"""Optional TensorBoard logging of a run (``loop.tensorboard=True``) through ``torch.utils.tensorboard``."""
import numbers
from pathlib import Path

from ..errors import MissingDependency
from .train import EpochInfo

#: Step-record fields written as scalars, besides per-class values.
STEP_SCALARS = ("accuracy", "mIoU", "pixel_accuracy", "test_loss", "holdout_loss", "mistake_rate", "n_labelled",
                "train_epochs", "best_epoch")


class TensorBoardWriter:
    """Writes per-step metrics and per-epoch losses as TensorBoard event files.

    Tags: ``metrics/<field>`` and ``per_class_iou/<class>`` (or
    ``per_class_accuracy/<class>``) against the annotation step;
    ``stage_<step>/train_loss`` and ``stage_<step>/holdout_<monitor>`` against
    the epoch of that step's training stage.

    Args:
        log_dir: Folder for the event files, e.g. ``work_dir/tensorboard``.
        class_names: Class names, index = class id.

    Raises:
        MissingDependency: The ``tensorboard`` package is not installed; the message says how to install it.
    """

    def __init__(self, log_dir: Path, class_names):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise MissingDependency(
                "loop.tensorboard=True needs the tensorboard package: pip install 'segal[tensorboard]' "
                "(or pip install tensorboard)"
            ) from err
        self.class_names = list(class_names)
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def epoch(self, step: int, info: EpochInfo) -> None:
        """Logs one epoch of step ``step``'s training stage."""
        self.writer.add_scalar(f"stage_{step:02d}/train_loss", info.train_loss, info.epoch)
        self.writer.add_scalar(f"stage_{step:02d}/holdout_{info.monitor}", info.holdout_value, info.epoch)

    def step(self, record: dict) -> None:
        """Logs the metrics of one step record (as in ``metrics.jsonl``)."""
        step = record["step"]
        for key in STEP_SCALARS:
            value = record.get(key)
            if isinstance(value, numbers.Real):
                self.writer.add_scalar(f"metrics/{key}", value, step)
        for key in ("per_class_iou", "per_class_accuracy"):
            values = record.get(key)
            if isinstance(values, list):
                values = dict(zip(self.class_names, values))
            for name, value in (values or {}).items():
                if value is not None:
                    self.writer.add_scalar(f"{key}/{name}", value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

"""The ``train``, ``loop`` and ``dist`` sections of a config, each a dataclass that checks its values.

The config check (:mod:`segal.config_check`) reads the valid keys and their
types from these classes; the engine and the launcher take them as built here.
"""
from dataclasses import dataclass, field
from typing import Optional, Type, TypeVar, Union

from .errors import InvalidValue
from .run_mode import RunMode

#: Mixed precision modes (:func:`~segal.utils.precision.autocast_dtype`).
AMP_MODES = ("auto", "bf16", "fp16", None)
#: What early stopping can watch on the holdout.
MONITORS = ("loss", "accuracy", "miou")
#: How scores become a selection.
SELECTIONS = ("top", "per_predicted_class")
#: How an epoch of a region step draws its partly labelled samples (``None``: every one, every epoch).
REGION_SAMPLINGS = (None, "pixels")
Section = TypeVar("Section")

#: Process-group backends; ``None`` picks nccl on CUDA and gloo on CPU.
BACKENDS = (None, "nccl", "gloo")


@dataclass
class TrainSettings:
    """The ``train`` section of a config.

    Attributes:
        optimizer: Optimizer config without ``params``, e.g. ``dict(type='Adam', lr=1e-3)``.
            A fresh optimizer is built for every stage.
        batch_size: Training batch size.
        max_epochs: Upper bound on epochs per stage.
        patience: Stop after this many epochs without a better holdout value.
        min_epochs: Never stop early before this epoch; the kept weights are
            still those of the best epoch. On imbalanced pools the holdout loss
            can rise for a few epochs before it falls far below its first
            minimum, and patience alone then keeps a nearly untrained model.
        monitor: What early stopping watches on the holdout: ``'loss'`` (lower is
            better), ``'accuracy'`` (pixel accuracy for segmentation) or ``'miou'``.
        eval_batch_size: Batch size for holdout and test passes.
        num_workers: DataLoader workers.
        checkpoint_interval: Save the stage in progress every this many epochs,
            so a resumed run continues inside the stage (bit for bit); 0 saves
            only the stage's result.
        amp: Mixed precision: ``'auto'`` (bfloat16 on CUDA, off on CPU),
            ``'bf16'``, ``'fp16'`` (with a gradient scaler) or ``None`` (float32).
            Holdout evaluation runs in the same precision.
        channels_last: Train convolutional models in channels-last memory
            format; ``None``: on CUDA for image inputs.
        poly_power: Decay the learning rate over the stage as
            ``lr * (1 - iteration / (max_epochs * iterations per epoch)) ** poly_power``
            (mmsegmentation's poly schedule, per stage); ``None`` keeps it constant.
        sync_bn: Under torchrun, synchronise batch-norm statistics across
            ranks (``nn.SyncBatchNorm``; CUDA only). Otherwise each rank
            normalises with its own batch, and rank 0's running statistics are kept.
    """

    optimizer: dict = field(default_factory=lambda: dict(type="Adam", lr=1e-3))
    batch_size: int = 32
    max_epochs: int = 100
    patience: int = 10
    min_epochs: int = 0
    monitor: str = "loss"
    eval_batch_size: int = 256
    num_workers: int = 0
    checkpoint_interval: int = 0
    amp: Optional[str] = "auto"
    channels_last: Optional[bool] = None
    poly_power: Optional[float] = None
    sync_bn: bool = False

    def __post_init__(self):
        if self.amp not in AMP_MODES:
            raise InvalidValue(f"train.amp must be one of {AMP_MODES}, got {self.amp!r}")
        if self.monitor not in MONITORS:
            raise InvalidValue(f"train.monitor must be one of {MONITORS}, got {self.monitor!r}")
        if self.checkpoint_interval < 0 or self.num_workers < 0:
            raise InvalidValue(f"train.checkpoint_interval and train.num_workers must be >= 0, got "
                             f"{self.checkpoint_interval} and {self.num_workers}")
        for name in ("batch_size", "max_epochs", "patience", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise InvalidValue(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.min_epochs <= self.max_epochs:
            raise InvalidValue(f"train.min_epochs must be in [0, train.max_epochs={self.max_epochs}], "
                             f"got {self.min_epochs}")


@dataclass
class LoopSettings:
    """The ``loop`` section of a config.

    Attributes:
        score_batch_size: Batch size of the passes over the pool while scoring.
        num_workers: DataLoader workers while scoring.
        keep_checkpoints: How many of the newest step checkpoints to keep; 0 keeps all.
        progress: Show progress: bars on a terminal, a log line every 30 s otherwise.
        tensorboard: Also write per-step metrics and per-epoch losses as
            TensorBoard events to ``work_dir/tensorboard`` (needs the
            ``tensorboard`` package: ``pip install 'segal[tensorboard]'``).
        oracle: ``'simulated'``: the loop selects and reads the true labels
            itself (benchmarks). ``'annotators'``: real annotation work; each
            run trains one step on the labels delivered so far, and
            ``tools/select.py`` chooses what to annotate next. With
            ``dataset.regions``, ``dict(type='simulated', region_label='dominant')``
            says how the simulated oracle labels a region: ``'dominant'`` (one
            click: the region's most frequent true class on every pixel) or
            ``'exact'`` (its true labels); see :mod:`segal.data.partial_labels`.
        selection: How the scores become a selection: ``'top'``, the step
            size's best scores; ``'per_predicted_class'`` (classification,
            scorers that score each sample), rounds over the classes the model
            predicts, each taking every class's next best sample, so the budget
            is not spent on one confused region of an imbalanced pool.
        pseudo_labels: ``None`` (off), ``dict(count=N)`` or ``dict(fraction=F)``:
            after each selection, the ``N`` (or the fraction ``F`` of the
            remaining candidates) with the lowest scores, for Ours those whose
            update lowers the holdout loss most (section 3), are added to the
            next stage's training set with the model's predicted labels. They
            are never counted as labelled and stay in the pool (classification
            held in memory, simulated oracle).
        holdout_growth: ``None`` (off), ``dict(fraction=F)`` or ``dict(count=N)``:
            after each selection, that share of the new labels (drawn at random
            from the selection with the step's seed) joins the holdout instead of
            the training set, so early stopping and the holdout-based scorers
            see more of the data as labels come in (section 3: "one can augment
            it as new labels are obtained"). They still count as labelled
            (``n_labelled`` counts annotations; records add ``n_trained``,
            ``n_holdout`` and ``holdout_added_ids``). Simulated oracle only.
        region_class_balance: ``None`` (off) or an exponent ``beta > 0``: with
            ``dataset.regions``, regions whose predicted class is rare among the
            labelled pixels rank higher, by the weight
            ``((n_max + 1) / (n_c + 1)) ** beta`` (:mod:`segal.selection.class_balance`).
        region_mosaic: ``None`` (off: a partly labelled image trains whole) or ``t >= 2``: with
            ``dataset.regions`` and the simulated oracle, partly labelled images train as tiles of ``1/t`` of
            their height and width around their labelled regions, ``t * t`` tiles to a full-size canvas
            (:mod:`segal.data.region_mosaics`), so a region step costs fewer passes per labelled pixel.
        region_sampling: ``None`` (off: every partly labelled sample trains every epoch) or ``'pixels'``: with
            ``dataset.regions`` and the simulated oracle, an epoch draws as many partly labelled samples (images,
            or canvases with ``region_mosaic``) as their labelled pixels fill whole images, each by its labelled
            pixels (:class:`~segal.data.loading.LabelledPixelShuffle`), so a region step costs the passes of an
            image step with the same labelled pixels.
    """

    score_batch_size: int = 256
    num_workers: int = 0
    keep_checkpoints: int = 0
    progress: bool = True
    tensorboard: bool = False
    oracle: Union[str, dict] = "simulated"
    selection: str = "top"
    pseudo_labels: Optional[dict] = None
    holdout_growth: Optional[dict] = None
    region_class_balance: Optional[float] = None
    region_mosaic: Optional[int] = None
    region_sampling: Optional[str] = None

    def __post_init__(self):
        if self.score_batch_size < 1:
            raise InvalidValue(f"loop.score_batch_size must be >= 1, got {self.score_batch_size}")
        if self.num_workers < 0 or self.keep_checkpoints < 0:
            raise InvalidValue(f"loop.num_workers and loop.keep_checkpoints must be >= 0 (0 keeps every checkpoint), "
                             f"got {self.num_workers} and {self.keep_checkpoints}")
        mode = RunMode.parse(self.oracle)
        if self.selection not in SELECTIONS:
            raise InvalidValue(f"loop.selection must be one of {SELECTIONS}, got {self.selection!r}")
        if self.region_mosaic is not None and not (isinstance(self.region_mosaic, int) and self.region_mosaic >= 2):
            raise InvalidValue(f"loop.region_mosaic must be None or an integer >= 2 (tiles per side), got "
                               f"{self.region_mosaic!r}")
        if self.region_sampling not in REGION_SAMPLINGS:
            raise InvalidValue(f"loop.region_sampling must be one of {REGION_SAMPLINGS}, got {self.region_sampling!r}")
        if self.region_class_balance is not None and not self.region_class_balance > 0:
            raise InvalidValue(f"loop.region_class_balance must be None or a number > 0, got "
                               f"{self.region_class_balance!r}")
        if self.pseudo_labels is not None:
            check_share("loop.pseudo_labels", self.pseudo_labels, whole_allowed=False)
        if self.holdout_growth is not None:
            check_share("loop.holdout_growth", self.holdout_growth, whole_allowed=True)
            if not mode.selects_in_loop:
                raise InvalidValue("loop.holdout_growth needs loop.oracle='simulated'; with annotators, "
                                 "add labelled images to the holdout list of the protocol instead")

    def run_mode(self, regions: bool = False) -> RunMode:
        """The run's mode: ``loop.oracle``, and whether a step labels regions (the dataset has ``dataset.regions``)."""
        return RunMode.parse(self.oracle, regions)


def check_share(key: str, settings: dict, whole_allowed: bool) -> None:
    """Checks a share setting: ``dict(count=N)`` with ``N >= 1``, or ``dict(fraction=F)`` with ``0 < F < 1``.

    Args:
        key: The config key, for the error message.
        settings: The value.
        whole_allowed: ``F = 1`` is allowed too.

    Raises:
        ValueError: Naming the key and the value at fault.
    """
    if not isinstance(settings, dict) or len(settings) != 1 or not {"count", "fraction"} & set(settings):
        raise InvalidValue(f"{key} must be dict(count=N) or dict(fraction=F), got {settings!r}")
    count, fraction = settings.get("count"), settings.get("fraction")
    if count is not None and not (isinstance(count, int) and not isinstance(count, bool) and count >= 1):
        raise InvalidValue(f"{key}.count must be an integer >= 1, got {count!r}")
    if fraction is not None and not (isinstance(fraction, (int, float)) and not isinstance(fraction, bool)
                                     and (0 < fraction <= 1 if whole_allowed else 0 < fraction < 1)):
        raise InvalidValue(f"{key}.fraction must be in (0, 1{']' if whole_allowed else ')'}, got {fraction!r}")


def share_count(settings: dict, available: int) -> int:
    """How many of ``available`` ids a ``dict(count=N)`` or ``dict(fraction=F)`` share takes."""
    wanted = settings["count"] if "count" in settings else round(settings["fraction"] * available)
    return min(int(wanted), available)


@dataclass
class DistSettings:
    """The ``dist`` section of a config: how the processes of a torchrun launch talk.

    Attributes:
        timeout: Seconds a collective waits for every rank; a rank that fails
            or hangs stops the others with an error after at most this long.
        backend: ``'nccl'`` or ``'gloo'``; ``None``: nccl on CUDA, gloo on CPU.
    """

    timeout: float = 1800.0
    backend: Optional[str] = None

    def __post_init__(self):
        if not self.timeout > 0:
            raise InvalidValue(f"dist.timeout must be > 0 seconds, got {self.timeout!r}")
        if self.backend not in BACKENDS:
            raise InvalidValue(f"dist.backend must be one of {BACKENDS}, got {self.backend!r}")


def from_section(cls: Type[Section], section: dict, key: str, **overrides) -> Section:
    """``cls`` built from a config section (``type`` left out), refusing an unknown entry by its key.

    Args:
        cls: :class:`TrainSettings`, :class:`LoopSettings` or :class:`DistSettings`.
        section: The config section.
        key: Its name, for the message (``'train'``).
        **overrides: Entries that replace the section's.
    """
    values = {**{k: v for k, v in dict(section).items() if k != "type"}, **overrides}
    try:
        return cls(**values)
    except TypeError as err:
        raise InvalidValue(f"config key '{key}': {err}") from err

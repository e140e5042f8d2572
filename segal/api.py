"""segal from Python, on your own torch model and Dataset: score a pool with any scorer, or run the loop.

The objects are the ones the tools use: a :class:`~segal.models.probe.ProbedModel` (``head(trunk(x))``, the
head being the layers the paper's scorers update), a dataset addressed by global id, and an
:class:`~segal.data.pool.ActivePool` saying which ids are labelled, held out, candidates or test.

Example::

    from segal.api import TorchDataset, score_pool, split_model

    data = TorchDataset(my_dataset, classes=["cat", "dog", "bird"])      # items: (image [C, H, W], label)
    model = split_model(my_resnet, head=["fc"], example=data[0]["inputs"][None])
    scores = score_pool(model, data, "HoldoutLossChange", pool_ids=unlabelled, labelled_ids=labelled,
                        holdout_ids=holdout)                              # [len(unlabelled)], higher first
"""
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from .data.pool import ActivePool, Split
from .engine.loop import ActiveLoop
from .errors import InvalidValue
from .models.probe import ProbedModel
from .registry import PROTOCOLS, SCORERS, build
from .scorers.base import ScoringContext
from .settings import LoopSettings, TrainSettings
from .utils.device import resolve_device

TASKS = ("classification", "segmentation")


class TorchDataset(torch.utils.data.Dataset):
    """A torch Dataset of ``(input, target)`` pairs as segal addresses data: ``dict(inputs, target, id)`` by
    global id, with its classes and task.

    Args:
        dataset: Items ``(input [C, H, W] float tensor, target)``: a class index (classification) or an
            ``[H, W]`` class-index map (segmentation).
        classes: Class names, in index order.
        task: ``'classification'`` or ``'segmentation'``.
        test_ids: Ids evaluated as the test split by :func:`run_loop`.
        ignore_index: Segmentation: the target value of unlabelled pixels (default 255).
        labels: Classification: every item's class, for protocols that draw balanced sets (read from the
            items when not given).
    """

    def __init__(self, dataset, classes: Sequence[str], task: str = "classification", test_ids: Sequence[int] = (),
                 ignore_index: Optional[int] = None, labels: Optional[Sequence[int]] = None):
        if task not in TASKS:
            raise InvalidValue(f"task must be one of {TASKS}, got {task!r}")
        self.dataset, self.classes, self.task = dataset, list(classes), task
        self.ignore_index = (255 if ignore_index is None else ignore_index) if task == "segmentation" else None
        self.is_test = np.zeros(len(dataset), dtype=bool)
        self.is_test[np.asarray(test_ids, dtype=np.int64)] = True
        if task == "classification":
            read = labels if labels is not None else [int(dataset[i][1]) for i in range(len(dataset))]
            self.labels = np.asarray(read, dtype=np.int64)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple:
        return tuple(self[0]["inputs"].shape)

    def has_label(self, ids) -> np.ndarray:
        return np.ones(len(ids), dtype=bool)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int) -> dict:
        inputs, target = self.dataset[int(idx)]
        return {"inputs": torch.as_tensor(inputs, dtype=torch.float32),
                "target": torch.as_tensor(np.asarray(target), dtype=torch.int64), "id": int(idx)}


class _SplitModel(ProbedModel):
    def __init__(self, trunk: nn.Module, head: nn.Module):
        super().__init__()
        self.trunk, self.head = trunk, head


def split_model(model: nn.Module, head: Sequence[str], example: Optional[torch.Tensor] = None) -> ProbedModel:
    """``model`` as a :class:`~segal.models.probe.ProbedModel`: the modules named in ``head`` (applied last, in
    that order) become the head, and the rest the trunk.

    The model is taken over: its head modules are replaced by ``nn.Identity`` in it, which then serves as the trunk.
    Classification heads are usually the last linear layer (``['fc']`` of a torchvision ResNet); the paper probes
    the last two conv layers of a segmentation network.

    Args:
        model: The user's network; ``model(x)`` gives logits ``[B, C]`` or ``[B, C, H, W]``.
        head: Dotted names of its last modules, as ``model.named_modules()`` gives them.
        example: An input batch ``[B, C, H, W]``; with it, the split is checked to give the model's own logits.

    Raises:
        InvalidValue: A name is not a module of ``model``, or (with ``example``) ``head(trunk(x))`` is not
            ``model(x)``: something the model does after the named modules is not theirs.
    """
    modules = dict(model.named_modules())
    missing = [name for name in head if name not in modules or not name]
    if missing or not head:
        raise InvalidValue(f"head {list(head)}: {missing or 'nothing'} is not a module of the model; its modules "
                           f"include {[n for n in modules if n][-5:]}")
    expected = None
    if example is not None:
        model.eval()
        with torch.no_grad():
            expected = model(example)
    layers = [modules[name] for name in head]
    for name in head:
        parent_name, _, child = name.rpartition(".")
        setattr(modules[parent_name] if parent_name else model, child, nn.Identity())
    probed = _SplitModel(model, nn.Sequential(*layers))
    if expected is not None:
        with torch.no_grad():
            got = probed(example)
        if got.shape != expected.shape or not torch.allclose(got, expected, atol=1e-5, rtol=1e-4):
            raise InvalidValue(f"head {list(head)} is not what the model applies last: head(trunk(x)) differs from "
                               f"model(x); name every module after the trunk's output, in order")
    return probed


def active_pool(size: int, pool_ids: Sequence[int], labelled_ids: Sequence[int] = (),
                holdout_ids: Sequence[int] = (), test_ids: Sequence[int] = ()) -> ActivePool:
    """An :class:`~segal.data.pool.ActivePool` of ``size`` ids: candidates, labelled (step 0), holdout and test.

    Ids named nowhere are outside every split the scorers read (test)."""
    splits = np.full(size, Split.TEST, dtype=np.int8)
    for ids, split in ((pool_ids, Split.POOL), (labelled_ids, Split.POOL), (holdout_ids, Split.HOLDOUT),
                       (test_ids, Split.TEST)):
        splits[np.asarray(ids, dtype=np.int64)] = split
    pool = ActivePool(splits)
    if len(labelled_ids):
        pool.label(np.asarray(labelled_ids, dtype=np.int64), step=0)
    return pool


def _scorer(scorer: Union[str, dict]):
    """A scorer built by its registered name or from its settings."""
    return build(SCORERS, {"type": scorer} if isinstance(scorer, str) else dict(scorer), "scorer")


def _context(model, dataset, pool, device, batch_size: int, seed: int) -> ScoringContext:
    device = resolve_device(device) if isinstance(device, str) else device
    return ScoringContext(model=model.to(device), dataset=dataset, pool=pool, device=device, step=0, seed=seed,
                          batch_size=batch_size, progress=False)


def score_pool(model: ProbedModel, dataset, scorer: Union[str, dict], pool_ids: Sequence[int],
               labelled_ids: Sequence[int] = (), holdout_ids: Sequence[int] = (), device: str = "auto",
               batch_size: int = 64, seed: int = 0) -> np.ndarray:
    """Scores ``pool_ids`` with a scorer built by name (``'HoldoutLossChange'``) or from a config dict
    (``dict(type='MCDropout', passes=20)``).

    Args:
        model: A :class:`~segal.models.probe.ProbedModel` (see :func:`split_model`).
        dataset: Items ``dict(inputs, target, id)`` by global id (see :class:`TorchDataset`).
        scorer: The scorer's registered name or its settings.
        pool_ids: The candidates to score.
        labelled_ids: Labelled ids (for scorers that read them, such as Coreset).
        holdout_ids: The holdout (Ours and Ours-app read it; Err-Reduction too).
        device: ``'auto'``, ``'cpu'``, ``'cuda'``, ...
        batch_size: Samples per pass.
        seed: Seed of the scorer's randomness (dropout masks, Random).

    Returns:
        ``[len(pool_ids)]`` float64 scores in ``pool_ids``' order; higher is annotated first.

    Raises:
        InvalidValue: The scorer selects jointly (Coreset, BADGE): use :func:`select_from_pool`.
    """
    built = _scorer(scorer)
    if not built.scores_each_sample:
        raise InvalidValue(f"{type(built).__name__} selects a batch jointly and gives no per-sample score; use "
                           f"select_from_pool")
    pool = active_pool(len(dataset), pool_ids, labelled_ids, holdout_ids)
    return np.asarray(built.score_ids(_context(model, dataset, pool, device, batch_size, seed), pool_ids),
                      dtype=np.float64)


def select_from_pool(model: ProbedModel, dataset, scorer: Union[str, dict], k: int, pool_ids: Sequence[int],
                     labelled_ids: Sequence[int] = (), holdout_ids: Sequence[int] = (), device: str = "auto",
                     batch_size: int = 64, seed: int = 0) -> np.ndarray:
    """The ``k`` ids of ``pool_ids`` that a scorer (any, joint ones included) selects, best first.

    Arguments as for :func:`score_pool`.
    """
    built = _scorer(scorer)
    pool = active_pool(len(dataset), pool_ids, labelled_ids, holdout_ids)
    return np.asarray(built.select(_context(model, dataset, pool, device, batch_size, seed), k).ids)


def run_loop(model: ProbedModel, dataset, scorer: Union[str, dict], protocol: dict, work_dir: Union[str, Path],
             train: Optional[TrainSettings] = None, loop: Optional[LoopSettings] = None, device: str = "auto",
             seed: int = 0, resume: bool = False) -> list:
    """Runs the active-learning loop on Python objects, with the simulated oracle (every label is in ``dataset``).

    Args:
        model: The network to train, split (:func:`split_model`).
        dataset: Items by global id with ``classes``, ``task`` and ``is_test`` (see :class:`TorchDataset`).
        scorer: The scorer's name or settings.
        protocol: The protocol's settings, e.g. ``dict(type='RandomSplitProtocol', initial_size=20,
            holdout_size=10, step_size=10, num_steps=5)``.
        work_dir: The run folder (state, metrics, checkpoints), resumable as the tools' runs are.
        train: Training settings (default: :class:`~segal.settings.TrainSettings`'s).
        loop: Loop settings (default: no progress bars).
        device: ``'auto'``, ``'cpu'``, ``'cuda'``, ...
        seed: The run's seed.
        resume: Continue the run in ``work_dir``.

    Returns:
        The step records (test metric, labels, selections), as ``metrics.jsonl`` holds them.
    """
    device = resolve_device(device)
    torch.manual_seed(seed)
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    active = ActiveLoop(dataset=dataset, model=model, scorer=_scorer(scorer),
        protocol=build(PROTOCOLS, dict(protocol), "protocol"),
        train_settings=train or TrainSettings(), loop_settings=loop or LoopSettings(progress=False),
        work_dir=Path(work_dir), device=device, seed=seed,
        checkpoint_meta={"classes": list(dataset.classes)})
    active.prepare(resume=resume)
    return active.run()

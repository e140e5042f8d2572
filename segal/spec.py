"""One experiment read from its config once: what every tool that runs, scores or evaluates it needs.

``tools/train.py`` (:func:`~segal.apis.run_experiment`), ``tools/select.py``,
``tools/test.py`` and replays of a finished step all start from an
:class:`ExperimentSpec` instead of reading ``seed``, ``device``, ``loop`` and
``train`` from the config themselves.
"""
import logging
from functools import cached_property
from pathlib import Path
from typing import Optional

import torch
from mmengine.config import Config

from .config import config_hash
from .registry import DATASETS, MODELS, PROTOCOLS, SCORERS, build
from .settings import LoopSettings, TrainSettings, from_section
from .utils.device import resolve_device
from .utils.distributed import is_main, rank_device
from .utils.paths import find_relative

logger = logging.getLogger("segal")


class ExperimentSpec:
    """An experiment's settings, parsed and checked, and the builders of its parts.

    Args:
        cfg: The merged config (:func:`~segal.config.load_config`, or a run's ``config.json``).
        device: Where to compute; by default ``cfg.device`` (``'auto'``: CUDA when there is one), one GPU per
            rank under torchrun.
        progress: Show progress; by default ``loop.progress``, on rank 0 only.

    Attributes:
        cfg: The config.
        seed: ``cfg.seed`` (0 when unset); every stage derives its own seed from it.
        device: Where to compute.
        loop: The ``loop`` section.
        train: The ``train`` section.
        mode: The run's mode: ``loop.oracle``, in region mode with ``dataset.regions``.
    """

    def __init__(self, cfg: Config, device: Optional[str] = None, progress: Optional[bool] = None):
        self.cfg = cfg
        self.seed = int(cfg.get("seed", 0))
        self.device = torch.device(device) if device is not None else \
            rank_device(resolve_device(cfg.get("device", "auto")))
        self.loop = from_section(LoopSettings, cfg.loop, "loop")
        self.loop.progress = (self.loop.progress if progress is None else progress) and is_main()
        self.train = from_section(TrainSettings, cfg.train, "train")
        self.mode = self.loop.run_mode(regions=cfg.dataset.get("regions") is not None)

    @cached_property
    def identity(self) -> dict:
        """``{'config_hash', 'seed'}``: what the run's checkpoints, state and saved progress carry."""
        return {"config_hash": config_hash(self.cfg.to_dict()), "seed": self.seed}

    @cached_property
    def dataset(self):
        """The dataset of ``cfg.dataset``, built on first use (:func:`build_dataset`)."""
        return build_dataset(self.cfg)

    def build_model(self, dataset=None) -> torch.nn.Module:
        """A fresh model for ``dataset`` (the spec's own by default); ``model.load_from`` is not applied."""
        return build_model(self.cfg.model, self.dataset if dataset is None else dataset)

    def build_scorer(self):
        return build(SCORERS, self.cfg.scorer, "scorer", lenient=True)

    def build_protocol(self):
        return build(PROTOCOLS, self.cfg.protocol, "protocol")


def build_dataset(cfg: Config):
    """The dataset of ``cfg.dataset``.

    A relative ``data_root`` is looked up in the current folder, then above the
    config file (:func:`~segal.utils.paths.find_relative`); found nowhere, it
    stays relative to the current folder, where the dataset says which files
    must go (or generates the synthetic city).
    """
    dataset_cfg = dict(cfg.dataset)
    data_root = dataset_cfg.get("data_root")
    if isinstance(data_root, str):
        found = find_relative(data_root, cfg.filename)
        if found is not None and found != Path(data_root):
            logger.info("dataset.data_root '%s' is not in the current folder; using %s, found above the config",
                        data_root, found)
            dataset_cfg["data_root"] = str(found)
    return build(DATASETS, dataset_cfg, "dataset")


def build_model(model_cfg: dict, dataset) -> torch.nn.Module:
    """A model whose input shape and class count default to the dataset's.

    ``model.load_from`` is not applied here: a run applies it to the model of
    step 0 (:func:`~segal.apis.run_experiment`); tools that load a checkpoint do not need it.
    """
    model_cfg = {k: v for k, v in dict(model_cfg).items() if k != "load_from"}
    model_cfg.setdefault("num_classes", dataset.num_classes)
    model_cfg.setdefault("input_shape", dataset.input_shape)
    return build(MODELS, model_cfg, "model")

"""Building an experiment from a config and running it."""
import contextlib
import logging
import shutil
from pathlib import Path
from typing import List

import torch
from mmengine.config import Config

from .config import ConfigError, check_resumable, config_hash, render_config, save_config
from .engine.loop import ActiveLoop
from .engine.oracles import make_oracle
from .engine.run_folder import RunFolder
from .models.pretrained import load_pretrained
from .plugins import check_run_plugins, record_plugins
from .registry import DATASETS, MODELS, PROTOCOLS, SCORERS, build
from .settings import LoopSettings, TrainSettings, from_section
from .utils.device import resolve_device
from .utils.distributed import barrier, is_main, rank_and_world, rank_device
from .utils.io import remove_stale_temp_files
from .utils.lock import LOCK_NAME, work_dir_lock
from .utils.logs import log_file
from .utils.paths import find_relative
from .utils.seeding import derive_seed

logger = logging.getLogger("segal")


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
    step 0 (:func:`run_experiment`); tools that load a checkpoint do not need it.
    """
    model_cfg = {k: v for k, v in dict(model_cfg).items() if k != "load_from"}
    model_cfg.setdefault("num_classes", dataset.num_classes)
    model_cfg.setdefault("input_shape", dataset.input_shape)
    return build(MODELS, model_cfg, "model")


def _killed_before_first_commit(folder: RunFolder) -> bool:
    """A run folder without ``state.json`` that a start left behind (its lock or config), seen before locking it."""
    return not folder.has_state() and any((folder.root / name).is_file() for name in ("config.json", LOCK_NAME))


def run_experiment(cfg: Config, work_dir: str, resume: bool = False, allow_missing: bool = False) -> List[dict]:
    """Builds every component of ``cfg`` and runs the active-learning loop.

    The merged config is saved to ``work_dir/config.py`` and ``config.json``,
    the log to ``work_dir/<timestamp>.log``. Everything is built and checked
    (saved state, budget) before anything is written. The work dir is locked
    while the run writes to it: a second process on it is refused. Temporary files of an interrupted write are removed.
    Under torchrun (inside :func:`~segal.utils.distributed.launched`) every
    rank calls this; rank 0 alone locks, writes and shows progress.

    Args:
        cfg: The merged config, as :func:`~segal.config.load_config` returns it (every key checked there).
        work_dir: Output folder.
        resume: Continue the run saved in ``work_dir``. Implied with
            ``loop.oracle='annotators'``, where each call trains the next step.
        allow_missing: With ``loop.oracle='annotators'``, train without
            selected images whose labels are still missing.

    Returns:
        The step records, as in ``metrics.jsonl``.
    """
    work_dir = Path(work_dir)
    if work_dir.exists() and not work_dir.is_dir():
        raise ConfigError(f"work dir {work_dir} is a file, not a folder; choose another --work-dir")
    cfg.work_dir = str(work_dir)
    render_config(cfg)  # a config that cannot be saved is refused before the folder exists
    loop = build_loop(cfg, work_dir, allow_missing)
    resume = resume or (loop.oracle.name == "annotators" and loop.folder.has_state())
    if resume and _killed_before_first_commit(loop.folder):
        logger.info("%s: the run was interrupted before its first commit; starting at step 0", work_dir)
        resume = False
    if resume:
        check_run_plugins(work_dir)
        check_resumable(work_dir, cfg)
    return _prepare_and_run(loop, cfg, work_dir, resume)


def build_loop(cfg: Config, work_dir: Path, allow_missing: bool = False) -> ActiveLoop:
    """The loop of ``cfg``: dataset, protocol, scorer, model (seeded) and settings, built in a fixed order.

    ``model.load_from`` is applied to a run that has no state yet. Nothing is written.
    """
    seed = int(cfg.get("seed", 0))
    device = rank_device(resolve_device(cfg.get("device", "auto")))
    dataset = build_dataset(cfg)
    protocol = build(PROTOCOLS, cfg.protocol, "protocol")
    scorer = build(SCORERS, cfg.scorer, "scorer", lenient=True)
    torch.manual_seed(derive_seed(seed, 0, "init"))
    model = build_model(cfg.model, dataset)
    if cfg.model.get("load_from") and not RunFolder(work_dir).has_state():
        logger.info("model.load_from: %s weights from %s", load_pretrained(model, cfg.model.load_from),
                    cfg.model.load_from)
    loop_settings = from_section(LoopSettings, cfg.loop, "loop")
    loop_settings.progress = loop_settings.progress and is_main()
    return ActiveLoop(
        dataset=dataset, model=model, scorer=scorer, protocol=protocol,
        train_settings=from_section(TrainSettings, cfg.train, "train"), loop_settings=loop_settings,
        work_dir=work_dir, device=device, seed=seed,
        checkpoint_meta={"model": cfg.model.to_dict(), "classes": list(dataset.classes),
                         "dataset": cfg.dataset["type"]},
        identity={"config_hash": config_hash(cfg.to_dict()), "seed": seed},
        oracle=make_oracle(loop_settings.oracle, allow_missing),
    )


def _prepare_and_run(loop: ActiveLoop, cfg: Config, work_dir: Path, resume: bool) -> List[dict]:
    """Locks the work dir (rank 0), prepares the loop, saves the config and runs with the log file open."""
    created = not work_dir.exists()
    main = is_main()  # under torchrun, rank 0 alone writes to the work dir
    barrier()  # every rank has looked at the work dir before rank 0 creates it
    with work_dir_lock(work_dir, "tools/train.py") if main else contextlib.nullcontext():
        try:
            loop.prepare(resume=resume)
        except BaseException:
            if created and main:  # a refused start leaves no folder behind
                shutil.rmtree(work_dir, ignore_errors=True)
            raise
        removed = remove_stale_temp_files(work_dir) if main else []
        if main:
            save_config(cfg, work_dir / "config.py")
            record_plugins(work_dir)
        with log_file(work_dir) if main else contextlib.nullcontext() as log_path:
            world = rank_and_world()[1]
            logger.info("work dir %s, device %s, seed %d, log %s%s", work_dir, loop.device, loop.seed,
                        log_path.name if log_path else "-", f", {world} processes" if world > 1 else "")
            if removed:
                logger.info("removed %d temporary files left by an interrupted write", len(removed))
            return loop.run()

"""Building an experiment from a config and running it."""
import contextlib
import logging
import shutil
from pathlib import Path
from typing import List

import torch
from mmengine.config import Config

from .config import ConfigError, check_resumable, render_config, save_config
from .engine.loop import ActiveLoop
from .engine.run_folder import RunFolder
from .models.pretrained import load_pretrained
from .plugins import check_run_plugins, record_plugins
from .spec import ExperimentSpec
from .utils.distributed import barrier, is_main, rank_and_world
from .utils.io import remove_stale_temp_files
from .utils.logs import log_file
from .utils.seeding import derive_seed

logger = logging.getLogger("segal")


def _killed_before_first_commit(folder: RunFolder) -> bool:
    """A run folder without ``state.json`` that a start left behind (its lock or config), seen before locking it."""
    return not folder.has_state() and any(path.is_file() for path in (folder.config_path, folder.lock_path))


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
    resume = resume or (loop.mode.labels_from_files and loop.folder.has_state())
    if resume and _killed_before_first_commit(loop.folder):
        logger.info("%s: the run was interrupted before its first commit; starting at step 0", work_dir)
        resume = False
    if resume:
        check_run_plugins(work_dir)
        check_resumable(work_dir, cfg)
    return _prepare_and_run(loop, cfg, work_dir, resume)


def build_loop(cfg: Config, work_dir: Path, allow_missing: bool = False) -> ActiveLoop:
    """The loop of ``cfg``'s :class:`~segal.spec.ExperimentSpec`: dataset, protocol, scorer, model (seeded) and
    settings, built in a fixed order.

    ``model.load_from`` is applied to a run that has no state yet. Nothing is written.
    """
    spec = ExperimentSpec(cfg)
    dataset = spec.dataset
    protocol = spec.build_protocol()
    scorer = spec.build_scorer()
    torch.manual_seed(derive_seed(spec.seed, 0, "init"))
    model = spec.build_model()
    if cfg.model.get("load_from") and not RunFolder(work_dir).has_state():
        logger.info("model.load_from: %s weights from %s", load_pretrained(model, cfg.model.load_from),
                    cfg.model.load_from)
    return ActiveLoop(
        dataset=dataset, model=model, scorer=scorer, protocol=protocol, train_settings=spec.train,
        loop_settings=spec.loop, work_dir=work_dir, device=spec.device, seed=spec.seed,
        checkpoint_meta={"model": cfg.model.to_dict(), "classes": list(dataset.classes),
                         "dataset": cfg.dataset["type"]},
        identity=spec.identity, mode=spec.mode, allow_missing=allow_missing,
    )


def _prepare_and_run(loop: ActiveLoop, cfg: Config, work_dir: Path, resume: bool) -> List[dict]:
    """Locks the work dir (rank 0), prepares the loop, saves the config and runs with the log file open."""
    created = not work_dir.exists()
    main = is_main()  # under torchrun, rank 0 alone writes to the work dir
    barrier()  # every rank has looked at the work dir before rank 0 creates it
    with loop.folder.lock("tools/train.py") if main else contextlib.nullcontext():
        try:
            loop.prepare(resume=resume)
        except BaseException:
            if created and main:  # a refused start leaves no folder behind
                shutil.rmtree(work_dir, ignore_errors=True)
            raise
        removed = remove_stale_temp_files(work_dir) if main else []
        if main:
            save_config(cfg, loop.folder.root)
            record_plugins(work_dir)
        with log_file(work_dir) if main else contextlib.nullcontext() as log_path:
            world = rank_and_world()[1]
            logger.info("work dir %s, device %s, seed %d, log %s%s", work_dir, loop.device, loop.seed,
                        log_path.name if log_path else "-", f", {world} processes" if world > 1 else "")
            if removed:
                logger.info("removed %d temporary files left by an interrupted write", len(removed))
            return loop.run()

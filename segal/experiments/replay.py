"""A finished step of a run, rebuilt for rescoring: its model, its pool before its selection, its seed."""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mmengine.config import Config

from ..config import read_run_config
from ..data.pool import UNLABELLED, ActivePool, Split
from ..engine.run_folder import RunFolder, recorded_checksum
from ..models.checkpoints import load_weights, read_checkpoint
from ..scorers.base import ScoringContext
from ..spec import ExperimentSpec


@dataclass
class ReplayedStep:
    """One step of a run, as its scorer saw it.

    Attributes:
        cfg: The run's merged config.
        ctx: The scoring context of the step: its model (eval mode), its pool
            before its selection, the loop's scoring seed for the step.
        record: The step's ``metrics.jsonl`` record.
        protocol: What the run's protocol recorded (e.g. ``minority_classes``).
    """

    cfg: Config
    ctx: ScoringContext
    record: dict
    protocol: dict


def pool_at_step(state: dict, step: int) -> ActivePool:
    """The pool as step ``step`` scored it: labels of later steps undone, holdout growth after it reverted.

    Args:
        state: A run's ``state.json`` ``pool`` entry.
        step: The step whose model selected.
    """
    splits, labelled_step = np.asarray(state["splits"]), np.asarray(state["labelled_step"])
    later = labelled_step > step
    splits = np.where(later & (splits == Split.HOLDOUT), int(Split.POOL), splits)
    labelled_step = np.where(later, UNLABELLED, labelled_step)
    return ActivePool.from_state_dict({"splits": splits.tolist(), "labelled_step": labelled_step.tolist()})


def replay_step(run_dir, step: int = 0, device: str = "cpu") -> ReplayedStep:
    """Rebuilds step ``step`` of the finished or interrupted run in ``run_dir``.

    Args:
        run_dir: A run's work dir (``config.json``, ``state.json``, ``checkpoints/step_<step>.pth``).
        step: The step to rebuild; its checkpoint must have been kept.
        device: Where to compute.

    Raises:
        FileNotFoundError: The run has no such step or its checkpoint was pruned.
    """
    run_dir = Path(run_dir)
    cfg = Config(read_run_config(run_dir))
    folder = RunFolder(run_dir)
    checkpoint = folder.checkpoint_path(step)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint} is missing: step {step} has not finished or its checkpoint was pruned "
                                f"(loop.keep_checkpoints)")
    state = folder.read_state()
    spec = ExperimentSpec(cfg, device=device, progress=False)
    model = spec.build_model().to(spec.device)
    load_weights(model, read_checkpoint(checkpoint, spec.device, recorded_checksum(checkpoint))["state_dict"],
                 checkpoint)
    model.eval()
    ctx = ScoringContext.for_step(model, spec.dataset, pool_at_step(state["pool"], step), spec.device, step,
                                  spec.seed, spec.loop, spec.train)
    return ReplayedStep(cfg=cfg, ctx=ctx, record=state["records"][step], protocol=state["protocol"])


def replay_grid_step(work_root, experiment: str, scorer: str, seed: int, step: int = 0) -> ReplayedStep:
    """Step ``step`` of the plain run of ``scorer`` and ``seed`` in a grid's work root (see :func:`replay_step`).

    Raises:
        FileNotFoundError: The grid has not run it yet; the message gives the command.
    """
    run = Path(work_root) / experiment / scorer / f"seed{seed}"
    if not RunFolder(run).checkpoint_path(step).is_file():
        raise FileNotFoundError(f"{run} has no step-{step} checkpoint; run "
                                f"python tools/grid.py configs/experiments/{experiment}.py first")
    return replay_step(run, step)

"""The active-learning loop: train, evaluate, score, select, reveal labels; resumable."""
import logging
import time
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch
from torch import nn

from ..data.costs import Budget
from ..data.loading import make_loader
from ..data.partial_labels import WithRegionLabels
from ..data.pool import ActivePool, Split
from ..data.protocols import Protocol
from ..data.pseudo_labels import WithPseudoLabels
from ..data.region_pool import RegionLabels
from ..models.checkpoints import load_weights, save_checkpoint
from ..scorers.base import Scorer, ScoringContext
from ..settings import LoopSettings, TrainSettings
from ..utils.distributed import barrier, is_main, shard
from ..utils.precision import autocast_dtype
from ..utils.progress import format_seconds
from ..utils.seeding import derive_seed
from .annotation_costs import CostLedger
from .budgeted_selection import (
    check_budget_settings,
    label_regions,
    region_fields,
    region_mode,
    select_images,
    select_regions,
)
from .class_balance import class_balance_of
from .inference import evaluate
from .loop_state import LoopState
from .oracles import SimulatedOracle
from .records import evaluation_fields, headline_metric, selection_fields, write_metrics
from .run_folder import RunFolder
from .run_state import STATE_FORMAT, RunStateError, restored_pool, restored_regions
from .step_progress import StepProgress
from .step_selection import check_selection_settings, grow_holdout, pseudo_labelled
from .tensorboard import TensorBoardWriter
from .train import StageResult, train_stage

logger = logging.getLogger("segal")


class ActiveLoop:
    """Runs the annotation steps of one experiment and keeps its state on disk.

    Step 0 trains on the protocol's initial set. Every step ``s`` then trains
    (continuing from the current weights with a fresh optimizer), evaluates on
    the test split and, unless it is the last step, scores the pool and selects
    ``step_size`` ids, labelled as step ``s + 1``. The oracle
    (:mod:`segal.engine.oracles`) says which labels are there and which steps
    a call runs: all of them (simulated), or one per call (annotators). With
    ``dataset.regions`` a step buys regions instead of whole images
    (:mod:`~segal.engine.budgeted_selection`), kept in ``LoopState.regions``,
    and trains on partial label maps (:mod:`segal.data.partial_labels`).

    Under torch.distributed every rank runs the loop with the same arguments:
    training is data-parallel, evaluation and scoring are sharded by id, and
    every rank ends each step with the same selection; rank 0 alone writes.

    After each step the loop writes, each atomically: the step's checkpoint,
    ``state.json`` (the commit point) and ``metrics.jsonl``. Within a step,
    the trained weights, the training stage every ``train.checkpoint_interval``
    epochs and the pool scores after every batch are saved as they are done
    (:class:`~segal.engine.step_progress.StepProgress`), so that a resumed run
    continues where it stopped and still writes what an uninterrupted run writes.

    Args:
        dataset: The dataset; with the simulated oracle its ``labels`` answer every selection.
        model: A freshly initialised :class:`~segal.models.ProbedModel`.
        scorer: The selection strategy.
        protocol: Builds the splits and the step schedule.
        train_settings: The ``train`` config.
        loop_settings: The ``loop`` config.
        work_dir: Where state, metrics and checkpoints go.
        device: Where to compute.
        seed: The run seed; every stage derives its own seed from it.
        checkpoint_meta: Stored in each checkpoint (model config, classes, ...).
        identity: ``{'config_hash', 'seed'}`` of the run; checkpoints, the state
            and the saved progress inside a step carry it.
        oracle: A :class:`~segal.engine.oracles.SimulatedOracle` (default) or
            :class:`~segal.engine.oracles.Annotators`, as ``loop.oracle`` names.
    """

    def __init__(
        self,
        dataset,
        model: nn.Module,
        scorer: Scorer,
        protocol: Protocol,
        train_settings: TrainSettings,
        loop_settings: LoopSettings,
        work_dir: Path,
        device: torch.device,
        seed: int,
        checkpoint_meta: Optional[dict] = None,
        identity: Optional[dict] = None,
        oracle=None,
    ):
        self.dataset, self.model, self.device, self.seed = dataset, model.to(device), device, seed
        self.scorer, self.protocol, self.schedule = scorer, protocol, protocol.schedule
        self.train_settings, self.loop_settings = train_settings, loop_settings
        self.work_dir, self.folder = Path(work_dir), RunFolder(work_dir)
        self.checkpoint_meta = checkpoint_meta or {}
        self.identity = identity or {"config_hash": None, "seed": seed}
        self.oracle = oracle or SimulatedOracle()
        self.state: Optional[LoopState] = None
        self.tensorboard = None
        self.budget = protocol.budget or Budget("images", self.schedule.step_size)
        self.ledger = CostLedger(dataset, loop_settings.progress and is_main(),
                                 labels_known=self.oracle.name == "simulated") if dataset.task == "segmentation" \
            else None
        self._class_pixels = {}  # labelled pixels per class of each whole labelled image, for region_class_balance
        check_selection_settings(loop_settings, scorer, dataset)

    def prepare(self, resume: bool = False) -> LoopState:
        """Builds the splits, or restores them from ``state.json``; writes nothing.

        Args:
            resume: Continue from ``state.json`` in the work dir. Without it the
                work dir must not hold a run yet.

        Returns:
            The state :meth:`run` continues from (also kept as :attr:`state`).

        Raises:
            RunStateError: ``resume`` without a saved state, a saved state
                without ``resume``, or a saved state of another run.
            BudgetError: The remaining steps need more ids than the pool has.
            MissingLabelsError: Annotators have not delivered the pending labels.
        """
        if resume:
            self.state = self._restore()
            self.oracle.check_restored(self.folder, self.state.records, self.state.pool, self.dataset,
                                       self.schedule.num_steps, self.state.regions)
        else:
            if self.folder.has_state():
                raise RunStateError(f"{self.folder.state_path} already holds a run; pass --resume to continue it or "
                                    f"choose another --work-dir")
            rng = np.random.default_rng(derive_seed(self.seed, 0, "protocol"))
            pool, protocol_info = self.protocol.build(self.dataset, rng)
            check_budget_settings(self.protocol.budget, self.scorer, self.dataset, pool.ids(Split.POOL),
                                  self.schedule.num_steps)
            if self.ledger is not None:
                protocol_info["costs"] = self.ledger.pool_totals(pool)
            self.state = LoopState(pool, [], protocol_info, regions=RegionLabels(pool) if region_mode(self.dataset)
                                   else None)
        if self.budget.unit == "images":
            self.oracle.check_budget(self.state.pool, self.schedule.num_steps, self.schedule.step_size)
        return self.state

    def run(self) -> List[dict]:
        """Runs the steps the oracle plans after :meth:`prepare` and returns every step record."""
        if self.state is None:
            raise RuntimeError("ActiveLoop.run() needs the state that prepare() builds or restores; call it first")
        if self.loop_settings.tensorboard and is_main():
            self.tensorboard = TensorBoardWriter(self.work_dir / "tensorboard", self.dataset.classes)
        try:
            return self._run(self.state)
        finally:
            if self.tensorboard is not None:
                self.tensorboard.close()
                self.tensorboard = None

    def _run(self, state: LoopState) -> List[dict]:
        records = state.records
        if is_main():
            write_metrics(self.folder.metrics_path, records)
        plan = self.oracle.plan(records, self.schedule.num_steps)
        if plan.finish_last == "select":  # a finished run extended by more steps: its last model selects
            records[-1].update(self._select(state, records[-1]["step"]))
            self._commit(state, records[-1]["step"])
        elif plan.finish_last == "delivered":  # the selecting model's predictions against the delivered labels
            last = records[-1]
            ranked = last["selected_ids"] or plan.pending.tolist()  # as tools/select.py ranked them
            last.update(self._selection_fields(plan.delivered))
            last["selected_ids"] = ranked
        if not plan.steps and plan.finish_last is None:
            logger.info("run already complete: %d steps in %s", self.schedule.num_steps, self.work_dir)
        for step, select in plan.steps:
            records.append(self._step(state, step, select))
            self._commit(state, step)
        self.oracle.after_run(records)
        return records

    def _train(self, state: LoopState, step: int, labelled: np.ndarray) -> StageResult:
        """Trains step ``step``'s model, or takes the weights a run interrupted after this stage had saved.

        With pseudo-labels, the stage also trains on the ids the last selection pseudo-labelled.
        """
        progress = StepProgress(self.work_dir, step, self.identity)
        trained = progress.load_trained()
        if trained is not None:
            self.model.load_state_dict(trained[0])
            logger.info("step %d: using the weights trained before the interruption", step)
            return StageResult(**trained[1])
        saved_stage = progress.load_training()
        if saved_stage is not None:
            logger.info("step %d: resuming training after epoch %d", step, saved_stage["epoch"])
        dataset, train_ids = self.dataset, labelled
        if state.regions is not None and len(state.regions.images()) and self.oracle.name == "simulated":
            dataset = WithRegionLabels(self.dataset, state.regions, self.loop_settings.region_label)
        pseudo_ids, pseudo_labels = pseudo_labelled(state.records)
        if len(pseudo_ids):
            dataset = WithPseudoLabels(self.dataset, pseudo_ids, pseudo_labels)
            train_ids = np.concatenate([labelled, pseudo_ids])
        stage = train_stage(
            self.model, dataset, train_ids, state.pool.holdout_ids, self.train_settings, self.device,
            seed=derive_seed(self.seed, step, "train"), progress=self.loop_settings.progress, desc=f"train step {step}",
            on_epoch=None if self.tensorboard is None else lambda info: self.tensorboard.epoch(step, info),
            saved=saved_stage, save=progress.save_training if is_main() else None,
        )
        if is_main():
            progress.save_trained(self.model.state_dict(), stage.__dict__)
        return stage

    def _step(self, state: LoopState, step: int, select: bool) -> dict:
        pool = state.pool
        labelled = state.annotated_ids(lambda ids: self.oracle.usable(self.dataset, ids))
        started = time.perf_counter()
        stage = self._train(state, step, labelled)
        trained = time.perf_counter()
        confusion, test_loss = self._evaluate(pool.test_ids)
        annotated = np.union1d(labelled, pool.joined_holdout_ids())
        record = {
            "step": step,
            "n_labelled": int(len(annotated)),
            **evaluation_fields(confusion, self.dataset.task, self.dataset.classes),
            "test_loss": test_loss,
            "train_epochs": stage.epochs,
            "best_epoch": stage.best_epoch,
            "holdout_loss": stage.holdout_loss,
        }
        if getattr(self.dataset, "labels", None) is not None:
            counts = np.bincount(self.dataset.labels[annotated], minlength=self.dataset.num_classes)
            record["labelled_class_counts"] = counts.tolist()
        if self.ledger is not None:
            record.update(self.ledger.labelled(pool, state.regions, state.protocol_info.get("costs", {})))
        if self.loop_settings.holdout_growth is not None:
            record.update(n_trained=int(len(labelled)), n_holdout=int(len(pool.holdout_ids)))
        if self.loop_settings.pseudo_labels is not None:
            record["n_pseudo_labelled"] = int(len(pseudo_labelled(state.records)[0]))
        record.update(self._select(state, step) if select else self._selection_fields([]))
        metric = headline_metric(record)
        planned = max(self.schedule.num_steps, step)
        logger.info(
            "step %s: %d labelled, test %s %.4f, mistake rate %s (train %.1fs, select %.1fs)",
            f"{step}/{planned}" if planned else step, len(labelled), metric, record[metric],
            "-" if record["mistake_rate"] is None else f"{record['mistake_rate']:.3f}",
            trained - started, time.perf_counter() - trained,
        )
        return record

    def _select(self, state: LoopState, step: int) -> dict:
        """Scores the pool with the step's model and labels the chosen ids as step ``step + 1``."""
        pool, settings = state.pool, self.loop_settings
        ctx = ScoringContext.for_step(self.model, self.dataset, pool, self.device, step, self.seed, settings,
                                      self.train_settings, score_store=StepProgress(self.work_dir, step, self.identity))
        if state.regions is not None:
            return self._select_regions(state, ctx, step)
        candidates = len(pool.candidate_ids())
        started = time.perf_counter()
        selection, pseudo_fields = select_images(self.scorer, ctx, self.budget, settings, self.ledger,
                                                 getattr(self.dataset, "labels", None))
        seconds = time.perf_counter() - started
        logger.info("step %d: %s scored %d pool samples in %s (%.1f samples/s) and selected %d",
                    step, type(self.scorer).__name__, candidates, format_seconds(seconds),
                    candidates / max(seconds, 1e-9), len(selection.ids))
        fields = self._selection_fields(selection.ids)  # the oracle reveals their labels
        if self.dataset.task == "classification":
            fields["pool_mistakes"] = self._pool_mistakes(pool)
        fields.update(pseudo_fields)
        pool.label(selection.ids, step + 1)
        if settings.holdout_growth is not None:
            fields["holdout_added_ids"] = grow_holdout(pool, selection.ids, settings.holdout_growth, self.seed,
                                                       step).tolist()
        return fields

    def _select_regions(self, state: LoopState, ctx: ScoringContext, step: int) -> dict:
        """Region mode: scores every region of the candidates and labels the bought ones as step ``step + 1``."""
        balance = class_balance_of(self.loop_settings, self.dataset, state.pool, state.regions, self._class_pixels)
        selection = select_regions(self.scorer, ctx, state.regions, self.budget, self.ledger.areas, balance)
        chosen = RegionLabels(state.pool)  # the mistakes counted are on the selected regions' pixels only
        label_regions(chosen, selection, step + 1, self.ledger)
        label_regions(state.regions, selection, step + 1, self.ledger)
        fields = self._selection_fields(chosen.images(), WithRegionLabels(self.dataset, chosen, "exact"))
        return {**fields, **region_fields(selection)}

    def _pool_mistakes(self, pool: ActivePool) -> int:
        """How many candidates the selecting model predicts wrongly (classification): the most a selection finds."""
        confusion, _ = self._evaluate(pool.candidate_ids())
        return int(confusion.total - np.trace(confusion.matrix))

    def _evaluate(self, ids, dataset=None):
        """Confusion matrix and mean loss of the current model on the ``ids`` whose labels the oracle has."""
        settings, dataset = self.train_settings, dataset or self.dataset
        ids = self.oracle.usable(self.dataset, ids)
        loader = make_loader(dataset, shard(ids), settings.eval_batch_size, settings.num_workers,
                             pin_memory=self.device.type == "cuda")
        return evaluate(self.model, loader, self.device, self.dataset.num_classes,
                        getattr(self.dataset, "ignore_index", None), autocast_dtype(settings.amp, self.device))

    def _selection_fields(self, ids, dataset=None) -> dict:
        """Selection record fields: the current model's predictions on ``ids`` against their labels (``dataset``'s)."""
        confusion, _ = self._evaluate(ids, dataset)
        return selection_fields(ids, confusion, self.dataset.task, self.dataset.classes)

    def _commit(self, state: LoopState, step: int) -> None:
        """Rank 0 writes the step's checkpoint, state and metrics; every rank waits until it has."""
        if is_main():
            self._write_commit(state, step)
        barrier()

    def _write_commit(self, state: LoopState, step: int) -> None:
        checkpoint = self.folder.checkpoint_path(step)
        meta = {**self.checkpoint_meta, "step": step, "run": {**self.identity, "step": step}}
        relative = self.folder.relative(checkpoint)
        state.checkpoint_sums[relative] = save_checkpoint(checkpoint, self.model.state_dict(), meta)
        pruned = self.folder.pruned_checkpoints(step, self.loop_settings.keep_checkpoints)
        for path in pruned:
            state.checkpoint_sums.pop(self.folder.relative(path), None)
        self.folder.write_state({
            "format": STATE_FORMAT,
            "seed": self.seed,
            "config_hash": self.identity["config_hash"],
            "oracle": self.oracle.name,
            "completed_step": step,
            "checkpoint": relative,
            "checkpoints": dict(state.checkpoint_sums),
            "protocol": state.protocol_info,
            "pool": state.pool.state_dict(),
            **({"regions": state.regions.state_dict()} if state.regions is not None else {}),
            "records": state.records,
        })
        write_metrics(self.folder.metrics_path, state.records)
        StepProgress(self.work_dir, step, self.identity).clear()
        for path in pruned:  # after the state that no longer lists them
            path.unlink(missing_ok=True)
        if self.tensorboard is not None:
            self.tensorboard.step(state.records[-1])

    def _restore(self) -> LoopState:
        state = self.folder.read_state(len(self.dataset))
        self.folder.check_identity(state, self.seed, self.identity["config_hash"])
        last_step = state["completed_step"]
        checkpoint = self.folder.read_latest_checkpoint(state, self.device)
        load_weights(self.model, checkpoint["state_dict"], self.work_dir / state["checkpoint"])
        logger.info("resuming %s after step %d", self.work_dir, last_step)
        pool = restored_pool(state)
        regions = restored_regions(state, pool, self.folder.state_path,
                                   lambda image: int(self.dataset.region_map(image).max()) + 1) \
            if region_mode(self.dataset) else None
        return LoopState(pool, state["records"], state["protocol"], dict(state.get("checkpoints", {})), regions)

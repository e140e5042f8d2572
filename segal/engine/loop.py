"""The active-learning loop: train, evaluate, score, select, reveal labels; resumable."""
import logging
import time
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch
from torch import nn

from ..data.costs import Budget
from ..data.partial_labels import WithRegionLabels
from ..data.pool import ActivePool, Split
from ..data.protocols import Protocol
from ..data.pseudo_labels import WithPseudoLabels
from ..data.region_mosaics import region_training_set
from ..data.region_pool import RegionLabels
from ..models.checkpoints import load_weights, save_checkpoint
from ..run_mode import RunMode
from ..scorers.base import Scorer, ScoringContext
from ..selection.checks import check_budget_settings, check_selection_settings
from ..selection.class_balance import class_balance_of
from ..selection.cost_ledger import CostLedger
from ..selection.holdout_growth import grow_holdout
from ..selection.images import select_images
from ..selection.pseudo_labels import pseudo_labelled
from ..selection.regions import record_regions, region_fields, select_regions
from ..settings import LoopSettings, TrainSettings
from ..utils.distributed import barrier, is_main
from ..utils.progress import format_seconds
from ..utils.seeding import derive_seed
from .inference import confusion_of, evaluate_ids, predict_ids
from .loop_state import LoopState
from .oracles import make_oracle
from .records import evaluation_fields, headline_metric, selection_fields, write_metrics
from .run_folder import RunFolder
from .run_state import RunStateError
from .step_progress import StepProgress
from .tensorboard import TensorBoardWriter
from .train import StageResult, train_stage

logger = logging.getLogger("segal")


class ActiveLoop:
    """Runs the annotation steps of one experiment and keeps its state on disk.

    Step 0 trains on the protocol's initial set. A step ``s`` trains (from the
    current weights, with a fresh optimizer), evaluates on the test split, and
    unless it is the last, scores the candidates, selects what its budget buys
    (:mod:`segal.selection`: images, or regions with ``dataset.regions``),
    labels it as step ``s + 1`` and records. The oracle (:mod:`.oracles`) says
    which labels are there and which steps a call runs: all (simulated), or one
    per call (annotators).

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
        mode: The run's mode (:class:`~segal.run_mode.RunMode`); by default ``loop.oracle``'s, in region
            mode when the dataset has ``dataset.regions``.
        allow_missing: With annotators, train without selected ids whose labels are still missing.
    """

    def __init__(
        self,
        dataset,
        model: nn.Module,
        scorer: Scorer,
        protocol: Protocol,
        train_settings: TrainSettings, loop_settings: LoopSettings,
        work_dir: Path, device: torch.device,
        seed: int,
        checkpoint_meta: Optional[dict] = None,
        identity: Optional[dict] = None,
        mode: Optional[RunMode] = None,
        allow_missing: bool = False,
    ):
        self.dataset, self.model, self.device, self.seed = dataset, model.to(device), device, seed
        self.scorer, self.protocol, self.schedule = scorer, protocol, protocol.schedule
        self.train_settings, self.loop_settings = train_settings, loop_settings
        self.work_dir, self.folder = Path(work_dir), RunFolder(work_dir)
        self.checkpoint_meta = checkpoint_meta or {}
        self.identity = identity or {"config_hash": None, "seed": seed}
        self.mode = mode or loop_settings.run_mode(regions=getattr(dataset, "regions", None) is not None)
        self.oracle = make_oracle(self.mode, allow_missing)
        self.state: Optional[LoopState] = None
        self.tensorboard = None
        self.budget = protocol.budget or Budget("images", self.schedule.step_size)
        self.ledger = None if dataset.task != "segmentation" else CostLedger.for_run(
            dataset, self.mode, loop_settings.progress and is_main(), self.folder.annotation_times_path)
        self._class_pixels = {}  # labelled pixels per class of each whole labelled image, for region_class_balance
        check_selection_settings(loop_settings, scorer, dataset, self.mode)

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
            check_budget_settings(self.protocol.budget, self.scorer, self.dataset, pool.ids(Split.POOL), self.mode,
                                  self.schedule.num_steps)
            if self.ledger is not None:
                protocol_info["costs"] = self.ledger.pool_totals(pool)
            self.state = LoopState(pool, [], protocol_info, regions=RegionLabels(pool) if self.mode.regions
                                   else None)
        if self.budget.unit == "images":
            self.oracle.check_budget(self.state.pool, self.schedule.num_steps, self.schedule.step_size)
        return self.state

    def run(self) -> List[dict]:
        """Runs the steps the oracle plans after :meth:`prepare` and returns every step record."""
        if self.state is None:
            raise RuntimeError("ActiveLoop.run() needs the state that prepare() builds or restores; call it first")
        if self.loop_settings.tensorboard and is_main():
            self.tensorboard = TensorBoardWriter(self.folder.tensorboard_dir, self.dataset.classes)
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
            last.update(self._selection_mistakes(plan.delivered))
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
        progress = StepProgress(self.folder.partial_dir, step, self.identity)
        trained = progress.load_trained()
        if trained is not None:
            self.model.load_state_dict(trained[0])
            logger.info("step %d: using the weights trained before the interruption", step)
            return StageResult(**trained[1])
        saved_stage = progress.load_training()
        if saved_stage is not None:
            logger.info("step %d: resuming training after epoch %d", step, saved_stage["epoch"])
        dataset, train_ids, shares = self.dataset, labelled, None
        answer = self.mode.trains_on_region_answers  # how the simulated oracle answers a region, if it does
        if answer is not None and len(state.regions.images()):
            dataset, train_ids, shares = region_training_set(self.dataset, state.regions, answer, labelled,
                                                             self.loop_settings.region_mosaic,
                                                             self.loop_settings.region_sampling)
        pseudo_ids, pseudo_labels = pseudo_labelled(state.records)
        if len(pseudo_ids):
            dataset = WithPseudoLabels(self.dataset, pseudo_ids, pseudo_labels)
            train_ids = np.concatenate([labelled, pseudo_ids])
        stage = train_stage(
            self.model, dataset, train_ids, state.pool.holdout_ids, self.train_settings, self.device,
            seed=derive_seed(self.seed, step, "train"), progress=self.loop_settings.progress, desc=f"train step {step}",
            on_epoch=None if self.tensorboard is None else lambda info: self.tensorboard.epoch(step, info),
            saved=saved_stage, save=progress.save_training if is_main() else None, labelled_shares=shares,
        )
        if is_main():
            progress.save_trained(self.model.state_dict(), stage.__dict__)
        return stage

    def _step(self, state: LoopState, step: int, select: bool) -> dict:
        """One step: train, evaluate, then (unless it is the last) score, select and label; returns its record,
        which :meth:`_run` commits."""
        labelled = state.annotated_ids(lambda ids: self.oracle.usable(self.dataset, ids))
        started = time.perf_counter()
        stage = self._train(state, step, labelled)
        trained = time.perf_counter()
        record = self._evaluation_record(state, step, labelled, stage)
        record.update(self._select(state, step) if select else self._selection_mistakes([]))
        metric = headline_metric(record)
        planned = max(self.schedule.num_steps, step)
        logger.info(
            "step %s: %d labelled, test %s %.4f, mistake rate %s (train %.1fs, select %.1fs)",
            f"{step}/{planned}" if planned else step, len(labelled), metric, record[metric],
            "-" if record["mistake_rate"] is None else f"{record['mistake_rate']:.3f}",
            trained - started, time.perf_counter() - trained,
        )
        return record

    def _evaluation_record(self, state: LoopState, step: int, labelled: np.ndarray, stage: StageResult) -> dict:
        """The step's model on the test split, and what the run has labelled (and spent) before it selects."""
        pool = state.pool
        confusion, test_loss = self._test_metrics(pool.test_ids)
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
        return record

    def _select(self, state: LoopState, step: int) -> dict:
        """Scores the candidates with step ``step``'s model, chooses what the budget buys and labels it as step
        ``step + 1``; returns the record's selection fields."""
        chosen, extra_fields = self._choose(state, self._scoring_context(state, step))
        return self._label(state, step, chosen, extra_fields)

    def _scoring_context(self, state: LoopState, step: int) -> ScoringContext:
        return ScoringContext.for_step(self.model, self.dataset, state.pool, self.device, step, self.seed,
                                       self.loop_settings, self.train_settings,
                                       score_store=StepProgress(self.folder.partial_dir, step, self.identity))

    def _choose(self, state: LoopState, ctx: ScoringContext):
        """Scores the candidates with the step's model and chooses what the budget buys: ``(a Selection of images,
        pseudo-label record fields)``, or in region mode ``(a RegionSelection, {})``."""
        budget = self.budget.of_selection(ctx.step + 1)
        if state.regions is not None:
            balance = class_balance_of(self.loop_settings.region_class_balance, self.mode.region_label, self.dataset,
                                       state.pool, state.regions, self._class_pixels)
            return select_regions(self.scorer, ctx, state.regions, budget, self.ledger.areas, balance)[0], {}
        candidates, started = len(state.pool.candidate_ids()), time.perf_counter()
        selection, pseudo_fields = select_images(
            self.scorer, ctx, budget, self.loop_settings.selection, self.ledger,
            self.loop_settings.pseudo_labels, getattr(self.dataset, "labels", None))
        seconds = time.perf_counter() - started
        logger.info("step %d: %s scored %d pool samples in %s (%.1f samples/s) and selected %d",
                    ctx.step, type(self.scorer).__name__, candidates, format_seconds(seconds),
                    candidates / max(seconds, 1e-9), len(selection.ids))
        return selection, pseudo_fields

    def _label(self, state: LoopState, step: int, chosen, extra_fields: dict) -> dict:
        """Labels what step ``step`` chose as step ``step + 1`` (the oracle reveals it) and returns the record's
        selection fields: how wrong the model was on it, and where labels went (holdout growth)."""
        if state.regions is not None:
            answered = RegionLabels(state.pool)  # the mistakes counted are on the selected regions' pixels only
            record_regions(answered, chosen, step + 1, self.ledger.areas)
            record_regions(state.regions, chosen, step + 1, self.ledger.areas)
            fields = self._selection_mistakes(answered.images(), WithRegionLabels(self.dataset, answered, "exact"))
            return {**fields, **region_fields(chosen)}
        fields = {**self._selection_mistakes(chosen.ids, pool=state.pool), **extra_fields}
        state.pool.label(chosen.ids, step + 1)
        if self.loop_settings.holdout_growth is not None:
            fields["holdout_added_ids"] = grow_holdout(state.pool, chosen.ids, self.loop_settings.holdout_growth,
                                                       self.seed, step).tolist()
        return fields

    def _test_metrics(self, ids) -> tuple:
        """``(confusion, mean loss)`` of the current model on the ``ids`` whose labels the oracle has."""
        return evaluate_ids(self.model, self.dataset, self.oracle.usable(self.dataset, ids), self.train_settings,
                            self.device, self.dataset.num_classes, getattr(self.dataset, "ignore_index", None))

    def _selection_mistakes(self, ids, dataset=None, pool: Optional[ActivePool] = None) -> dict:
        """Selection record fields: the current model's predictions on ``ids`` against their labels (``dataset``'s).

        With ``pool`` (classification), one pass over every candidate gives both these and ``pool_mistakes``:
        how many candidates the model predicts wrongly, the most a selection of them can find.
        """
        ignore_index, num_classes = getattr(self.dataset, "ignore_index", None), self.dataset.num_classes
        if pool is None or self.dataset.task != "classification":
            confusion, _ = evaluate_ids(self.model, dataset or self.dataset, self.oracle.usable(self.dataset, ids),
                                        self.train_settings, self.device, num_classes, ignore_index)
            return selection_fields(ids, confusion, self.dataset.task, self.dataset.classes)
        candidates = self.oracle.usable(self.dataset, pool.candidate_ids())
        seen, predicted, target = predict_ids(self.model, self.dataset, candidates, self.train_settings, self.device)
        rows = np.searchsorted(seen, np.asarray(ids, dtype=np.int64))
        confusion = confusion_of(predicted[rows], target[rows], num_classes, ignore_index)
        fields = selection_fields(ids, confusion, self.dataset.task, self.dataset.classes)
        return {**fields, "pool_mistakes": int((predicted != target).sum())}

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
        self.folder.write_state(state.saved(step, relative, self.identity, self.mode))
        write_metrics(self.folder.metrics_path, state.records)
        StepProgress(self.folder.partial_dir, step, self.identity).clear()
        for path in pruned:  # after the state that no longer lists them
            path.unlink(missing_ok=True)
        if self.tensorboard is not None:
            self.tensorboard.step(state.records[-1])

    def _restore(self) -> LoopState:
        saved = self.folder.read_state(len(self.dataset))
        self.folder.check_identity(saved, self.seed, self.identity["config_hash"])
        checkpoint = self.folder.read_latest_checkpoint(saved, self.device)
        load_weights(self.model, checkpoint["state_dict"], self.work_dir / saved["checkpoint"])
        logger.info("resuming %s after step %d", self.work_dir, saved["completed_step"])
        return LoopState.restored(saved, self.folder.state_path, self.dataset if self.mode.regions else None)

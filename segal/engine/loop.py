"""The active-learning loop: train, evaluate, score, select, reveal labels; resumable."""
import logging
import time
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from ..data.loading import make_loader
from ..data.pool import ActivePool
from ..data.protocols import Protocol
from ..data.pseudo_labels import WithPseudoLabels
from ..errors import InvalidValue
from ..models.checkpoints import load_weights, save_checkpoint
from ..scorers.base import BudgetError, Scorer, ScoringContext, check_budget
from ..settings import LoopSettings, TrainSettings, share_count
from ..utils.distributed import barrier, is_main, shard
from ..utils.precision import autocast_dtype
from ..utils.progress import format_seconds
from ..utils.seeding import derive_seed
from .inference import evaluate
from .records import evaluation_fields, headline_metric, selection_fields, write_metrics
from .run_folder import RunFolder
from .run_state import STATE_FORMAT, RunStateError, restored_pool
from .step_progress import StepProgress
from .tensorboard import TensorBoardWriter
from .train import StageResult, train_stage

logger = logging.getLogger("segal")

class MissingLabelsError(RunStateError):
    """Ids selected for annotation have no label file yet."""


class ActiveLoop:
    """Runs the annotation steps of one experiment and keeps its state on disk.

    Step 0 trains on the protocol's initial set. Every step ``s`` then trains
    (continuing from the current weights with a fresh optimizer), evaluates on
    the test split and, unless it is the last step, scores the pool and selects
    ``step_size`` ids, which the simulated oracle labels as step ``s + 1``.

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
        dataset: The dataset; its ``labels`` act as the oracle.
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
    ):
        self.dataset = dataset
        self.model = model.to(device)
        self.scorer = scorer
        self.protocol = protocol
        self.schedule = protocol.schedule
        self.train_settings = train_settings
        self.loop_settings = loop_settings
        self.work_dir = Path(work_dir)
        self.folder = RunFolder(work_dir)
        self.device = device
        self.seed = seed
        self.checkpoint_meta = checkpoint_meta or {}
        self.identity = identity or {"config_hash": None, "seed": seed}
        self.tensorboard = None
        self._checkpoint_sums = {}  # checkpoint path in the work dir -> SHA-256 of its bytes
        per_sample = scorer.scores_each_sample and dataset.task == "classification"
        if loop_settings.selection != "top" and not per_sample:
            raise InvalidValue(f"loop.selection={loop_settings.selection!r} needs a classification dataset and a "
                             f"scorer that scores each sample; {type(scorer).__name__} on a {dataset.task} dataset "
                             f"cannot use it (set loop.selection='top')")
        if loop_settings.pseudo_labels is not None and (not per_sample or loop_settings.oracle != "simulated"):
            raise InvalidValue(f"loop.pseudo_labels needs a classification dataset, a scorer that scores each sample "
                             f"and the simulated oracle; not {type(scorer).__name__} on a {dataset.task} dataset "
                             f"with loop.oracle={loop_settings.oracle!r}")

    def prepare(self, resume: bool = False) -> None:
        """Builds the splits, or restores them from ``state.json``; writes nothing.

        Args:
            resume: Continue from ``state.json`` in the work dir. Without it the
                work dir must not hold a run yet.

        Raises:
            RunStateError: ``resume`` without a saved state, a saved state
                without ``resume``, or a saved state of another run.
            BudgetError: The remaining steps need more ids than the pool has.
        """
        if resume:
            self._pool, self._records, self._protocol_info = self._restore()
        else:
            if self.folder.state_path.exists():
                raise RunStateError(f"{self.folder.state_path} already holds a run; pass --resume to continue it or "
                                    f"choose another --work-dir")
            rng = np.random.default_rng(derive_seed(self.seed, 0, "protocol"))
            self._pool, self._protocol_info = self.protocol.build(self.dataset, rng)
            self._records = []
            self._checkpoint_sums = {}
        self._check_budget(self._pool)

    def run(self) -> List[dict]:
        """Runs the remaining steps after :meth:`prepare` and returns every step record."""
        if self.loop_settings.tensorboard and is_main():
            self.tensorboard = TensorBoardWriter(self.work_dir / "tensorboard", self.dataset.classes)
        try:
            return self._run()
        finally:
            if self.tensorboard is not None:
                self.tensorboard.close()
                self.tensorboard = None

    def _run(self) -> List[dict]:
        pool, records = self._pool, self._records
        if is_main():
            write_metrics(self.folder.metrics_path, records)
        last = self.schedule.num_steps
        if records and not records[-1]["selected_ids"] and records[-1]["step"] < last:
            # The run was extended: its former last step has not selected yet.
            records[-1].update(self._select(pool, records[-1]["step"]))
            self._commit(pool, records, records[-1]["step"])
        first = records[-1]["step"] + 1 if records else 0
        if first > last:
            logger.info("run already complete: %d steps in %s", last, self.work_dir)
        for step in range(first, last + 1):
            records.append(self._step(pool, step, select=step < last))
            self._commit(pool, records, step)
        return records

    def trainable_ids(self, pool: ActivePool) -> np.ndarray:
        """The labelled ids to train on."""
        return pool.training_ids()

    def _pseudo_labelled(self) -> Tuple[np.ndarray, np.ndarray]:
        """``(ids, labels)`` the last selection pseudo-labelled for the next stage (empty without pseudo-labels)."""
        last = self._records[-1] if self._records else {}
        return (np.asarray(last.get("pseudo_ids", []), dtype=np.int64),
                np.asarray(last.get("pseudo_labels", []), dtype=np.int64))

    def _train(self, pool: ActivePool, step: int, labelled: np.ndarray, progress: StepProgress) -> StageResult:
        """Trains step ``step``'s model, or takes the weights a run interrupted after this stage had saved.

        With pseudo-labels, the stage also trains on the ids the last selection pseudo-labelled.
        """
        trained = progress.load_trained()
        if trained is not None:
            self.model.load_state_dict(trained[0])
            logger.info("step %d: using the weights trained before the interruption", step)
            return StageResult(**trained[1])
        saved_stage = progress.load_training()
        if saved_stage is not None:
            logger.info("step %d: resuming training after epoch %d", step, saved_stage["epoch"])
        dataset, train_ids = self.dataset, labelled
        pseudo_ids, pseudo_labels = self._pseudo_labelled()
        if len(pseudo_ids):
            dataset = WithPseudoLabels(self.dataset, pseudo_ids, pseudo_labels)
            train_ids = np.concatenate([labelled, pseudo_ids])
        stage = train_stage(
            self.model, dataset, train_ids, pool.holdout_ids, self.train_settings, self.device,
            seed=derive_seed(self.seed, step, "train"), progress=self.loop_settings.progress, desc=f"train step {step}",
            on_epoch=None if self.tensorboard is None else lambda info: self.tensorboard.epoch(step, info),
            saved=saved_stage, save=progress.save_training if is_main() else None,
        )
        if is_main():
            progress.save_trained(self.model.state_dict(), stage.__dict__)
        return stage

    def _step(self, pool: ActivePool, step: int, select: bool) -> dict:
        labelled = self.trainable_ids(pool)
        started = time.perf_counter()
        stage = self._train(pool, step, labelled, StepProgress(self.work_dir, step, self.identity))
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
        if self.loop_settings.holdout_growth is not None:
            record.update(n_trained=int(len(labelled)), n_holdout=int(len(pool.holdout_ids)))
        if self.loop_settings.pseudo_labels is not None:
            record["n_pseudo_labelled"] = int(len(self._pseudo_labelled()[0]))
        record.update(self._select(pool, step) if select else self._selection_fields([]))
        metric = headline_metric(record)
        logger.info(
            "step %d/%d: %d labelled, test %s %.4f, mistake rate %s (train %.1fs, select %.1fs)",
            step, max(self.schedule.num_steps, step), len(labelled), metric, record[metric],
            "-" if record["mistake_rate"] is None else f"{record['mistake_rate']:.3f}",
            trained - started, time.perf_counter() - trained,
        )
        return record

    def _select(self, pool: ActivePool, step: int) -> dict:
        """Scores the pool with the step's model and labels the chosen ids as step ``step + 1``."""
        ctx = ScoringContext.for_step(self.model, self.dataset, pool, self.device, step, self.seed,
                                      self.loop_settings, self.train_settings,
                                      score_store=StepProgress(self.work_dir, step, self.identity))
        candidates = len(pool.candidate_ids())
        started = time.perf_counter()
        if self.loop_settings.pseudo_labels is None and self.loop_settings.selection == "top":
            selection = self.scorer.select(ctx, self.schedule.step_size)  # a scorer's own select(ctx, k) keeps working
        elif self.loop_settings.pseudo_labels is None:
            selection = self.scorer.select(ctx, self.schedule.step_size, self.loop_settings.selection)
        else:
            selection, pseudo_fields = self._select_with_pseudo_labels(ctx, pool)
        seconds = time.perf_counter() - started
        logger.info("step %d: %s scored %d pool samples in %s (%.1f samples/s) and selected %d",
                    step, type(self.scorer).__name__, candidates, format_seconds(seconds),
                    candidates / max(seconds, 1e-9), len(selection.ids))
        fields = self._selection_fields(selection.ids)  # the oracle reveals their labels
        if self.dataset.task == "classification":
            fields["pool_mistakes"] = self._pool_mistakes(pool)
        if self.loop_settings.pseudo_labels is not None:
            fields.update(pseudo_fields)
        pool.label(selection.ids, step + 1)
        if self.loop_settings.holdout_growth is not None:
            fields["holdout_added_ids"] = self._grow_holdout(pool, selection.ids, step).tolist()
        return fields

    def _pool_mistakes(self, pool: ActivePool) -> int:
        """How many candidates the selecting model predicts wrongly: the mistakes a selection could find at most.

        One inference pass over the candidates (classification, where the simulated oracle knows every label).
        """
        confusion, _ = self._evaluate(pool.candidate_ids())
        return int(confusion.total - np.trace(confusion.matrix))

    def _grow_holdout(self, pool: ActivePool, new_ids, step: int) -> np.ndarray:
        """Moves ``loop.holdout_growth``'s share of the new labels, drawn with the step's seed, into the holdout."""
        new_ids = np.asarray(new_ids, dtype=np.int64)
        count = share_count(self.loop_settings.holdout_growth, len(new_ids))
        rng = np.random.default_rng(derive_seed(self.seed, step, "holdout_growth"))
        moved = np.sort(rng.choice(new_ids, size=count, replace=False))
        pool.move_to_holdout(moved)
        logger.info("step %d: %d of the %d new labels join the holdout (now %d)", step, count, len(new_ids),
                    len(pool.holdout_ids))
        return moved

    def _select_with_pseudo_labels(self, ctx: ScoringContext, pool: ActivePool):
        """The selection, and the remaining candidates with the lowest scores with their predicted labels.

        Returns:
            ``(selection, record fields)``: ``pseudo_ids``, ``pseudo_labels`` and,
            against the true labels, ``pseudo_label_accuracy``.
        """
        candidates = pool.candidate_ids()
        check_budget(self.schedule.step_size, len(candidates))
        scores = self.scorer.score_ids(ctx, candidates)
        selection = self.scorer.select_from_scores(ctx, candidates, scores, self.schedule.step_size,
                                                   self.loop_settings.selection)
        rest = ~np.isin(candidates, selection.ids)
        count = share_count(self.loop_settings.pseudo_labels, int(rest.sum()))
        lowest = np.argsort(scores[rest], kind="stable")[:count]
        ids = candidates[rest][lowest]
        labels = ctx.predicted_classes(ids) if len(ids) else np.zeros(0, dtype=np.int64)
        accuracy = float((labels == self.dataset.labels[ids]).mean()) if len(ids) else None
        logger.info("pseudo-labelled %d pool samples for the next stage (%s of their labels right)", len(ids),
                    "-" if accuracy is None else f"{accuracy:.1%}")
        return selection, {"pseudo_ids": ids.tolist(), "pseudo_labels": labels.tolist(),
                           "pseudo_label_accuracy": accuracy}

    def _evaluate(self, ids):
        settings = self.train_settings
        loader = make_loader(self.dataset, shard(ids), settings.eval_batch_size, settings.num_workers,
                             pin_memory=self.device.type == "cuda")
        return evaluate(self.model, loader, self.device, self.dataset.num_classes,
                        getattr(self.dataset, "ignore_index", None), autocast_dtype(settings.amp, self.device))

    def _selection_fields(self, ids) -> dict:
        """Selection record fields: the current model's predictions on ``ids`` against their true labels."""
        confusion, _ = self._evaluate(ids)
        return selection_fields(ids, confusion, self.dataset.task, self.dataset.classes)

    def _check_budget(self, pool: ActivePool) -> None:
        remaining = self.schedule.num_steps - max(pool.last_step, 0)
        needed = remaining * self.schedule.step_size
        available = len(pool.candidate_ids())
        if needed > available:
            raise BudgetError(
                f"{remaining} more steps of {self.schedule.step_size} need {needed} ids, "
                f"but the pool has only {available} unlabelled ids; lower protocol.num_steps or the step size"
            )

    def _commit(self, pool: ActivePool, records: List[dict], step: int) -> None:
        """Rank 0 writes the step's checkpoint, state and metrics; every rank waits until it has."""
        if is_main():
            self._write_commit(pool, records, step)
        barrier()

    def _write_commit(self, pool: ActivePool, records: List[dict], step: int) -> None:
        checkpoint = self.folder.checkpoint_path(step)
        meta = {**self.checkpoint_meta, "step": step, "run": {**self.identity, "step": step}}
        relative = self.folder.relative(checkpoint)
        self._checkpoint_sums[relative] = save_checkpoint(checkpoint, self.model.state_dict(), meta)
        pruned = self._pruned_checkpoints(step)
        for path in pruned:
            self._checkpoint_sums.pop(self.folder.relative(path), None)
        state = {
            "format": STATE_FORMAT,
            "seed": self.seed,
            "config_hash": self.identity["config_hash"],
            "oracle": self.loop_settings.oracle,
            "completed_step": step,
            "checkpoint": relative,
            "checkpoints": dict(self._checkpoint_sums),
            "protocol": self._protocol_info,
            "pool": pool.state_dict(),
            "records": records,
        }
        self.folder.write_state(state)
        write_metrics(self.folder.metrics_path, records)
        StepProgress(self.work_dir, step, self.identity).clear()
        for path in pruned:  # after the state that no longer lists them
            path.unlink(missing_ok=True)
        if self.tensorboard is not None:
            self.tensorboard.step(records[-1])

    def _pruned_checkpoints(self, step: int) -> List[Path]:
        """The checkpoints that ``loop.keep_checkpoints`` lets go once step ``step`` is committed."""
        keep = self.loop_settings.keep_checkpoints
        return [self.folder.checkpoint_path(old) for old in range(0, step - keep + 1)] if keep > 0 else []

    def _restore(self):
        state = self.folder.read_state(len(self.dataset))
        self.folder.check_identity(state, self.seed, self.identity["config_hash"])
        pool = restored_pool(state)
        last_step = state["completed_step"]
        if last_step > self.schedule.num_steps and self.loop_settings.oracle == "simulated":
            raise RunStateError(
                f"{self.work_dir} has finished {last_step} steps; protocol.num_steps={self.schedule.num_steps} "
                f"would shorten it. Resume with protocol.num_steps >= {last_step}, or start a new run"
            )
        self._checkpoint_sums = dict(state.get("checkpoints", {}))
        checkpoint = self.folder.read_latest_checkpoint(state, self.device)
        load_weights(self.model, checkpoint["state_dict"], self.work_dir / state["checkpoint"])
        logger.info("resuming %s after step %d", self.work_dir, state["completed_step"])
        return pool, state["records"], state["protocol"]


class AnnotationLoop(ActiveLoop):
    """Real annotation work: each run trains one step on the labels annotators have delivered.

    A fresh run trains step 0 on the protocol's initial set. ``tools/select.py``
    then records a selection in ``state.json`` as the next step, pending
    annotation. The next run checks that every pending id has its label file,
    scores the selecting model's predictions on them (``mistake_rate``), trains
    the next step on every labelled id that has a label, and stops.

    Args:
        allow_missing: Train without pending ids whose labels are still
            missing (with a warning) instead of refusing to.
        *args, **kwargs: As for :class:`ActiveLoop`.
    """

    def __init__(self, *args, allow_missing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.allow_missing = allow_missing

    def prepare(self, resume: bool = False) -> None:
        """Restores the state when there is one (``resume`` is implied), else builds the splits.

        Raises:
            RunStateError: The state has no step pending annotation.
            MissingLabelsError: Pending ids have no label file and ``allow_missing`` is off.
        """
        if not self.folder.has_state():
            super().prepare(resume=False)
            return
        self._pool, self._records, self._protocol_info = self._restore()
        step = self._records[-1]["step"]
        self._pending = self._pool.labelled_ids(step + 1)
        if not len(self._pending):
            raise RunStateError(
                f"{self.folder.state_path}: step {step} is trained and nothing is pending annotation; "
                f"run tools/select.py to choose the next images"
            )
        missing = self._pending[~self.dataset.has_label(self._pending)]
        if len(missing) and not self.allow_missing:
            listing = "\n  ".join(str(self.dataset.expected_label_path(int(i))) for i in missing)
            raise MissingLabelsError(
                f"{len(missing)} of the {len(self._pending)} images of annotation step {step + 1} have no label "
                f"file yet; write these:\n  {listing}\nor pass --allow-missing to train without them for now"
            )
        if len(missing):
            logger.warning("training without %d selected images whose labels are missing: ids %s",
                           len(missing), missing.tolist())

    def _check_budget(self, pool: ActivePool) -> None:
        """Selections are made by tools/select.py, which checks its own budget."""

    def trainable_ids(self, pool: ActivePool) -> np.ndarray:
        labelled = pool.training_ids()
        return labelled[self.dataset.has_label(labelled)]

    def _evaluate(self, ids):
        ids = np.asarray(ids, dtype=np.int64)
        return super()._evaluate(ids[self.dataset.has_label(ids)])

    def _run(self) -> List[dict]:
        pool, records = self._pool, self._records
        if records:
            last = records[-1]
            ranked = last["selected_ids"] or self._pending.tolist()  # as tools/select.py ranked them
            delivered = self._pending[self.dataset.has_label(self._pending)]
            last.update(self._selection_fields(delivered))  # the selecting model against the new labels
            last["selected_ids"] = ranked
            step = last["step"] + 1
        else:
            step = 0
        records.append(self._step(pool, step, select=False))
        self._commit(pool, records, step)
        logger.info("step %d trained; run tools/select.py to choose the next images to annotate", step)
        return records

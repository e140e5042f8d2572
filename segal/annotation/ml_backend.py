"""What segal's Label Studio ML backend does, apart from HTTP: predict and score tasks, take annotations, train.

* :class:`RunPredictor` holds an annotation run's latest model: for each
  task it returns the model's prediction as brush layers and the configured
  scorer's score of the image, under ``model_version`` ``<run>/step_<N>``
  (the same as ``select.py --export labelstudio``'s). In region mode it adds
  the outlines of the regions pending annotation, and the score is that of the
  image's best regions (:mod:`.region_tasks`). Scores and predictions are
  computed in batches and kept per checkpoint; a new checkpoint clears them.
* :class:`AnnotationIntake` imports an annotated task's labels through every
  check of ``import_labels.py`` and, once enough new labels came in (or on
  request), trains the next step in a child process, one at a time; the
  training step is ``tools/train.py``'s, so it holds the run's lock and
  resumes after a kill like any other.
"""
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np
import torch

from ..data.image_files import image_size
from ..data.pool import Split
from ..data.region_pool import RegionLabels
from ..engine.run_folder import RunFolder
from ..engine.run_state import restored_pool, restored_regions
from ..errors import InvalidValue
from ..scorers.base import ScoringContext
from ..scorers.checks import check_finite_scores
from ..spec import ExperimentSpec
from ..utils.io import atomic_write_text
from ..utils.precision import no_tf32
from .checkpoint import load_checkpoint
from .dataset_images import DatasetImages
from .label_import import ImportReport, import_labels
from .label_scheme import LabelScheme
from .labelstudio import LABEL_CONTROL, REGIONS_CONTROL, REGIONS_LABEL, brush_result, region_outlines, task_image
from .predictions import predicted_label_map
from .region_tasks import region_task_scores, requested_regions

#: Predictions (brush layers, a few kB each) kept per checkpoint, so that opening a task again costs no pass.
MAX_CACHED_PREDICTIONS = 4096
#: Label Studio's webhook actions that carry a task's new or changed annotation.
ANNOTATION_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")


class TaskError(InvalidValue):
    """A task the backend cannot serve; the message names it."""


class RunPredictor:
    """An annotation run's latest model, answering Label Studio's ``/predict``.

    Args:
        spec: The run's experiment (its config as ``tools/train.py`` got it).
        work_dir: The run folder.
        score_scale: What the scores are multiplied by in the answers (the order stays); ``'auto'``: the power of
            ten that brings the largest score of a checkpoint's first scored tasks into [1, 10), kept for that
            checkpoint, since Label Studio's score column shows three decimals.
    """

    def __init__(self, spec: ExperimentSpec, work_dir, score_scale: Union[float, str] = "auto"):
        if score_scale != "auto" and not (isinstance(score_scale, (int, float)) and score_scale > 0):
            raise InvalidValue(f"the score scale must be a number above 0 or 'auto', got {score_scale!r}")
        self.score_scale, self.scale = score_scale, None if score_scale == "auto" else float(score_scale)
        self.spec, self.folder = spec, RunFolder(work_dir)
        self.dataset = spec.dataset
        if self.dataset.task != "segmentation":
            raise InvalidValue("the ML backend serves segmentation runs")
        self.root = Path(self.dataset.data_root).resolve()
        self.images, self.scheme = DatasetImages(self.dataset), LabelScheme.of_dataset(self.dataset)
        self.scorer = spec.build_scorer()
        self.step: Optional[int] = None
        self.prepared: Optional[int] = None  # the step the scorer was prepared for (its holdout pass)
        # of the held checkpoint: scores by (id, pending regions), predictions as brush layers by id
        self.scores, self.layers = {}, {}
        self.regions: Optional[RegionLabels] = None
        self.refresh()

    @property
    def model_version(self) -> str:
        return f"{self.folder.root.name}/step_{self.step}"

    def refresh(self) -> bool:
        """Loads the run's latest checkpoint if it is newer than the one held; returns whether it was."""
        saved = self.folder.read_state(len(self.dataset))
        step = saved.get("completed_step")
        if step is None:
            raise InvalidValue(f"{self.folder.state_path} has no trained step yet; run tools/train.py first")
        if self.spec.mode.regions:  # select.py may have recorded new pending regions since
            self.regions = restored_regions(saved, restored_pool(saved), self.folder.state_path)
        if step == self.step:
            return False
        model = self.spec.build_model(self.dataset).to(self.spec.device)
        load_checkpoint(self.folder.checkpoint_path(step), model, self.spec.cfg.model, list(self.dataset.classes),
                        self.spec.device)
        model.eval()
        self.ctx = ScoringContext.for_step(model, self.dataset, restored_pool(saved), self.spec.device, step,
                                           self.spec.seed, self.spec.loop, self.spec.train)
        self.step, self.scores, self.layers = step, {}, {}
        if self.score_scale == "auto":
            self.scale = None
        return True

    def labels_waiting(self) -> int:
        """How many images pending annotation already have their label file (delivered, not yet trained on)."""
        pending = (self.regions.images(self.step + 1) if self.regions is not None
                   else self.ctx.pool.labelled_ids(self.step + 1))
        return int(np.asarray(self.dataset.has_label(pending)).sum()) if len(pending) else 0

    def task_id(self, task, position: int) -> int:
        """The dataset id of a task's image; refuses an image outside the dataset root or not in its pool."""
        name = f"task {task.get('id', position) if isinstance(task, dict) else position}"
        if not isinstance(task, dict):
            raise TaskError(f"{name} is not an object")
        reference = task_image(task, name)
        if not (self.root / reference).resolve().is_relative_to(self.root):
            raise TaskError(f"{name}: image {reference!r} lies outside the dataset root")
        idx = self.images.find(reference)
        if idx is None or self.ctx.pool.split_of([idx])[0] == Split.TEST:
            raise TaskError(f"{name}: image {reference!r} is not one of the run's pool images")
        return idx

    def predict(self, tasks: List[dict]) -> List[dict]:
        """One prediction per task: ``{result: brush layers, score, model_version}``.

        Raises:
            TaskError: A task names no image, or one outside the dataset root or the run's pool.
        """
        self.refresh()
        ids = [self.task_id(task, position) for position, task in enumerate(tasks)]
        unique = np.array(sorted(set(ids)), dtype=np.int64)
        keys = {int(i): (int(i), self.requested(int(i))) for i in unique}
        unscored = unique[[keys[int(i)] not in self.scores for i in unique]]
        if len(unscored) and self.regions is not None:
            scores = region_task_scores(self.scorer, self.ctx, self.regions, unscored, self.step + 1)
            self.scores.update((keys[i], scores[i]) for i in unscored.tolist())
        self.score_and_predict(unique[[keys[int(i)] not in self.scores or int(i) not in self.layers for i in unique]])
        scale = self.display_scale([self.scores[keys[i]] for i in ids])
        answers = [{"result": self.layers[i] + self.outlines(i), "model_version": self.model_version,
                    "score": None if self.scores[keys[i]] is None else self.scores[keys[i]] * scale} for i in ids]
        while len(self.layers) > MAX_CACHED_PREDICTIONS:  # the oldest go first
            del self.layers[next(iter(self.layers))]
        return answers

    def display_scale(self, scores: List[Optional[float]]) -> float:
        """The scale of the held checkpoint's answers; with ``'auto'``, fixed by the first non-zero ``scores``."""
        if self.scale is None:
            largest = max((abs(score) for score in scores if score), default=0.0)
            if not largest:
                return 1.0
            self.scale = 10.0 ** -math.floor(math.log10(largest))
        return self.scale

    def score_and_predict(self, ids: np.ndarray) -> None:
        """Predicts ``ids`` and scores those without a score, one forward pass a batch: the scorer reads the
        trunk features the prediction was made from (:meth:`~segal.scorers.base.ScoringContext.remembering`).

        Raises:
            NonFiniteScores: A score is NaN or infinite; the message names the ids.
        """
        precision = getattr(self.scorer, "precision", "exact")
        with no_tf32():
            if len(ids) and self.regions is None and self.prepared != self.step:
                self.scorer.prepare(self.ctx)
                self.prepared = self.step
            for batch in self.ctx.batches(ids):
                batch_ids = batch["id"].tolist()
                with torch.no_grad():
                    features = self.ctx.trunk(batch["inputs"], precision)
                    logits = self.ctx.model.head(features)
                if any((i, ()) not in self.scores for i in batch_ids) and self.regions is None:
                    values = self.scorer.score(self.ctx.remembering(batch["inputs"], precision, features), batch)
                    values = values.detach().double().cpu().numpy()
                    check_finite_scores(type(self.scorer).__name__, np.asarray(batch_ids), values)
                    self.scores.update(((i, ()), float(v)) for i, v in zip(batch_ids, values))
                for row, idx in enumerate(batch_ids):
                    self.layers[idx] = self.brush_layers(idx, logits[row])

    def brush_layers(self, idx: int, logits: torch.Tensor) -> List[dict]:
        """One brush layer per class that ``[C, h, w]`` logits predict somewhere in image ``idx``."""
        width, height = image_size(self.dataset.image_path(idx))
        predicted = predicted_label_map(logits, height, width)
        return [brush_result(LABEL_CONTROL, self.scheme.names[c], predicted == c, f"m{idx}c{c}")
                for c in np.flatnonzero(np.bincount(predicted.ravel(), minlength=256)[:255])]

    def requested(self, idx: int) -> Tuple[int, ...]:
        """Region mode: the regions of image ``idx`` pending annotation; ``()`` otherwise."""
        return requested_regions(self.regions, idx, self.step + 1) if self.regions is not None else ()

    def outlines(self, idx: int) -> List[dict]:
        """Region mode: the outline layer of the regions of image ``idx`` pending annotation, as the export draws
        it; none for an image without any."""
        requested = self.requested(idx)
        if not requested:
            return []
        mask = np.isin(self.dataset.region_map(idx), requested)
        return [brush_result(REGIONS_CONTROL, REGIONS_LABEL, region_outlines(mask), f"m{idx}r")]


class AnnotationIntake:
    """Annotations from Label Studio's webhook into the run, and the training steps they call for.

    Args:
        config: The config file the run was made with.
        work_dir: The run folder.
        train_every: Start a training step once this many new label files were written.
        cfg_options: The ``--cfg-options`` the run was made with.
    """

    def __init__(self, config: str, work_dir, train_every: int, cfg_options: Optional[dict] = None):
        self.config, self.folder, self.train_every = config, RunFolder(work_dir), train_every
        self.cfg_options = cfg_options or {}
        self.new_labels, self.training = 0, None
        self.log = self.folder.root / "ml_backend_training.log"

    def receive(self, payload: dict) -> dict:
        """Handles one webhook call; returns what it did."""
        action = payload.get("action") if isinstance(payload, dict) else None
        if action in ANNOTATION_ACTIONS:
            report = self.import_task(payload)
            self.new_labels += len(report.written)
            started = self.new_labels >= self.train_every and self.start_training()
            answer = {"action": action, "labels_written": len(report.written), "training_started": bool(started)}
            if report.clipped:  # region mode: paint outside the regions to label, left out
                answer["pixels_outside_regions"] = sum(report.clipped.values())
            return answer
        if action == "START_TRAINING":
            return {"action": action, "training_started": self.start_training()}
        return {"action": action, "ignored": True}

    def import_task(self, payload: dict) -> ImportReport:
        """Writes the label file of the task a webhook call carries; returns the import's report."""
        task, annotation = payload.get("task"), payload.get("annotation")
        if not isinstance(task, dict) or not isinstance(annotation, dict):
            raise TaskError(f"webhook {payload.get('action')}: expected 'task' and 'annotation' objects")
        export = self.folder.labelstudio_pull_path(f"webhook_task{task.get('id')}_{time.strftime('%Y%m%d_%H%M%S')}")
        export.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(export, json.dumps([{**task, "annotations": [annotation]}]))
        report = import_labels(export, "labelstudio", state=str(self.folder.state_path),
                               overwrite=payload.get("action") == "ANNOTATION_UPDATED")
        return report

    def resume(self, waiting: int) -> bool:
        """At start: counts the ``waiting`` labels delivered before, and trains if a step was interrupted (its
        progress is saved in the run) or enough labels wait; returns whether a step started."""
        self.new_labels = waiting
        partial = self.folder.partial_dir
        interrupted = partial.is_dir() and any(partial.iterdir())
        return (interrupted or waiting >= self.train_every) and self.start_training()

    @property
    def is_training(self) -> bool:
        return self.training is not None and self.training.poll() is None

    def start_training(self) -> bool:
        """Starts ``tools/train.py``'s next step on the labels delivered so far, unless one runs; returns whether
        it started."""
        if self.is_training:
            return False
        options = [f"{key}={value}" for key, value in self.cfg_options.items()]
        command = [sys.executable, "-c", "from segal.commands.train import main; main()", self.config,
                   "--work-dir", str(self.folder.root), "--allow-missing",
                   *(["--cfg-options", *options] if options else [])]
        with open(self.log, "a") as log:
            self.training = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self.new_labels = 0
        return True

"""The scorer interface: prepare once per step, score the pool batch by batch, select."""
import logging
from dataclasses import dataclass, replace
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..data.loading import make_loader
from ..data.pool import ActivePool
from ..errors import InvalidValue, SegalError
from ..settings import SELECTIONS, LoopSettings, TrainSettings
from ..utils.device import to_device
from ..utils.distributed import gather_arrays, gather_rows, shard
from ..utils.precision import autocast, autocast_dtype, no_tf32
from ..utils.progress import Progress
from ..utils.seeding import derive_seed
from .checks import NonFiniteScores, check_finite_scores  # noqa: F401  (NonFiniteScores: part of the API)
from .ranking import top_k, top_k_per_predicted_class
from .region_means import segment_means


@dataclass
class ScoringContext:
    """Everything a scorer may use at one annotation step.

    Attributes:
        model: The current model (a :class:`~segal.models.ProbedModel`).
        dataset: The dataset, addressed by global id.
        pool: The active pool; its candidates are what may be selected.
        device: Where to compute.
        step: The annotation step whose model is scoring.
        seed: Seed for any randomness of this step's scoring.
        batch_size: Batch size for passes over the pool and the holdout.
        num_workers: DataLoader workers.
        progress: Show a progress bar while scoring.
        score_store: Where a scoring pass saves its scores after every batch and
            finds the scores of an interrupted pass (``save_scores(ids, scores)``,
            ``load_scores() -> (ids, scores) or None``); ``None`` saves nothing.
        amp_dtype: The training precision (``train.amp``): scorers with
            ``precision='fast'`` compute trunk features under autocast in it.
        remembered: ``(inputs, precision, features)``: :meth:`trunk` answers these inputs with these features
            instead of computing them again (see :meth:`remembering`).
    """

    model: nn.Module
    dataset: object
    pool: ActivePool
    device: torch.device
    step: int
    seed: int
    batch_size: int = 256
    num_workers: int = 0
    progress: bool = True
    score_store: Optional[object] = None
    amp_dtype: Optional[torch.dtype] = None
    remembered: Optional[tuple] = None

    @classmethod
    def for_step(cls, model: nn.Module, dataset, pool: ActivePool, device: torch.device, step: int, run_seed: int,
                 loop: LoopSettings, train: TrainSettings, score_store: Optional[object] = None) -> "ScoringContext":
        """The context in which step ``step``'s model scores, as the loop, ``tools/select.py`` and replays build it.

        Args:
            model: The step's model.
            dataset: The dataset.
            pool: The pool as it was when the step selected.
            device: Where to compute.
            step: The selecting step.
            run_seed: The run's seed; the step's scoring seed derives from it.
            loop: The ``loop`` settings (batch size, workers, progress).
            train: The ``train`` settings (``amp``: the precision of ``precision='fast'`` features).
            score_store: Where the pass saves its scores as it goes, if anywhere.
        """
        return cls(model=model, dataset=dataset, pool=pool, device=device, step=step,
                   seed=derive_seed(run_seed, step, "score"), batch_size=loop.score_batch_size,
                   num_workers=loop.num_workers, progress=loop.progress, score_store=score_store,
                   amp_dtype=autocast_dtype(train.amp, device))

    def loader(self, ids: Sequence[int], with_targets: bool = False) -> DataLoader:
        """A loader over ``ids`` in the given order, without shuffling; targets only when asked."""
        return make_loader(self.dataset, ids, self.batch_size, self.num_workers, with_targets,
                           pin_memory=self.device.type == "cuda")

    @property
    def ignore_index(self) -> Optional[int]:
        return getattr(self.dataset, "ignore_index", None)

    def trunk(self, inputs: torch.Tensor, precision: str = "exact") -> torch.Tensor:
        """``model.trunk(inputs)``; with ``precision='fast'`` under autocast in :attr:`amp_dtype`, returned as float32.

        Every pool sample's before/after comparison reads the same features, so
        their precision does not reorder a ranking the way a float32
        difference of two losses would; what follows the trunk stays in the
        model's dtype.
        """
        if self.remembered is not None and inputs is self.remembered[0] and precision == self.remembered[1]:
            return self.remembered[2]
        dtype = self.amp_dtype if precision == "fast" else None
        with autocast(self.device, dtype):
            features = self.model.trunk(inputs)
        return features.float() if dtype is not None else features

    def remembering(self, inputs: torch.Tensor, precision: str, features: torch.Tensor) -> "ScoringContext":
        """This context, whose :meth:`trunk` of ``inputs`` at ``precision`` gives ``features`` (one pass, two uses)."""
        return replace(self, remembered=(inputs, precision, features))

    def logits(self, inputs: torch.Tensor, precision: str = "exact") -> torch.Tensor:
        """``model.head(trunk(inputs))``, the trunk as :meth:`trunk` computes it."""
        return self.model.head(self.trunk(inputs, precision))

    @torch.no_grad()
    def trunk_features(self, ids: Sequence[int], precision: str = "exact") -> torch.Tensor:
        """Trunk features of ``ids`` in eval mode: ``[N, D]`` (or ``[N, D, h, w]``) on ``ctx.device``.

        Under torch.distributed each rank computes its shard and every rank
        gets all of them (call it on every rank).
        """
        return self._gathered_features(ids, precision, with_targets=False)[0]

    @torch.no_grad()
    def labelled_features(self, ids: Sequence[int], precision: str = "exact") -> Tuple[torch.Tensor, torch.Tensor]:
        """Trunk features and targets of labelled ``ids`` (the holdout, the labelled set), gathered as
        :meth:`trunk_features` gathers them."""
        return self._gathered_features(ids, precision, with_targets=True)

    @torch.no_grad()
    def predicted_classes(self, ids: Sequence[int]) -> np.ndarray:
        """``[N]`` the model's predicted class of each of ``ids`` (classification models only)."""
        logits = self.model.head(self.trunk_features(ids))
        if logits.ndim != 2:
            raise InvalidValue("loop.selection='per_predicted_class' needs a classification model: a segmentation "
                             "image has no single predicted class")
        return logits.argmax(1).cpu().numpy()

    def _gathered_features(self, ids: Sequence[int], precision: str, with_targets: bool):
        self.model.eval()
        ids = np.asarray(ids, dtype=np.int64)
        local = shard(ids)
        # A rank with an empty shard still needs the feature shape: it computes one sample and keeps none.
        computed = local if len(local) or not len(ids) else ids[:1]
        features, targets = [], []
        for batch in self.batches(computed, with_targets=with_targets):
            features.append(self.trunk(batch["inputs"], precision))
            if with_targets:
                targets.append(batch["target"])
        features = gather_rows(torch.cat(features)[: len(local)])
        return features, gather_rows(torch.cat(targets)[: len(local)]) if with_targets else None

    def batches(self, ids: Sequence[int], with_targets: bool = False, desc: Optional[str] = None):
        """Yields the batches of ``ids`` on the device; targets only when asked (never for the pool).

        With ``desc``, shows progress under that label when ``progress`` is on:
        a bar on a terminal, a log line every 30 seconds otherwise.
        """
        with Progress(len(ids), desc or "", unit="sample", enabled=self.progress and desc is not None) as progress:
            for batch in self.loader(ids, with_targets):
                if not with_targets:
                    batch.pop("target", None)
                yield to_device(batch, self.device)
                progress.update(len(batch["id"]))

@dataclass
class Selection:
    """The ids a scorer chose, best first, with their scores (NaN for a joint selector)."""

    ids: np.ndarray
    scores: np.ndarray

def entropy(logits: torch.Tensor, dtype: Optional[torch.dtype] = torch.float64) -> torch.Tensor:
    """Predictive entropy over the class dim 1: ``[B, C, ...] -> [B, ...]``, in ``dtype`` (``None``: the logits')."""
    log_p = torch.log_softmax(logits if dtype is None else logits.to(dtype), dim=1)
    return -(log_p.exp() * log_p).sum(dim=1)


def mean_over_elements(values: torch.Tensor) -> torch.Tensor:
    """``[B, ...] -> [B]``: the mean over every non-batch dimension (pixels), accumulated in float64."""
    return values.reshape(values.shape[0], -1).mean(dim=1, dtype=torch.float64) if values.ndim > 1 else values

PRECISIONS = ("fast", "exact")


class Scorer:
    """Base class of the selection strategies. Higher score means annotate first.

    A subclass implements :meth:`score`, and :meth:`prepare` when it needs work
    done once per step (e.g. holdout gradients). Strategies that choose a batch
    jointly (Coreset, BADGE) override :meth:`select` instead.

    Args:
        precision: ``'fast'`` (default): trunk features in the training
            precision (bf16 autocast on CUDA with ``train.amp='auto'``; float32
            on CPU), the head's updates and loss changes in float32 (exact
            delta form), entropy-type statistics in float32 accumulated in
            float64 per image. ``'exact'``: everything in float32 or better,
            entropies in float64. TF32 is off while scoring in both.
    """

    #: True for scorers that read the run's holdout or labelled set.
    needs_labelled_data = False
    #: What :meth:`pixel_map` shows, for the colour bar of heat maps.
    pixel_map_name = "predictive entropy (nats)"

    def __init__(self, precision: str = "fast"):
        if precision not in PRECISIONS:
            raise InvalidValue(f"scorer.precision must be one of {PRECISIONS}, got {precision!r}")
        self.precision = precision

    @property
    def statistics_dtype(self) -> Optional[torch.dtype]:
        """Entropy-type statistics: float64 in ``'exact'`` precision, the logits' dtype (float32) in ``'fast'``."""
        return torch.float64 if self.precision == "exact" else None

    def prepare(self, ctx: ScoringContext) -> None:
        """Work done once per step, before any pool batch is scored."""

    def score(self, ctx: ScoringContext, batch: dict) -> torch.Tensor:
        """Scores one batch of pool samples.

        Args:
            ctx: The step's context.
            batch: ``dict(inputs, target, id)`` on ``ctx.device``; scorers must not read ``target``.

        Returns:
            ``[B]`` float64 scores.
        """
        raise NotImplementedError

    @torch.no_grad()
    def pixel_map(self, ctx: ScoringContext, batch: dict) -> torch.Tensor:
        """``[B, H, W]``: where in each image the model is likely wrong, for heatmaps.

        Scorers with a per-pixel quantity of their own override this; the
        default is the per-pixel predictive entropy.
        """
        ctx.model.eval()
        return entropy(ctx.logits(batch["inputs"], self.precision), self.statistics_dtype)

    #: False for scorers without a per-pixel quantity, which cannot score regions (Coreset, BADGE, ErrReduction).
    scores_regions = True

    def region_scores(self, ctx: ScoringContext, batch: dict, region_maps: Sequence[np.ndarray]) -> List[torch.Tensor]:
        """Scores of every region of each image of ``batch``: ``B`` float64 tensors ``[R_i]``.

        The default is the mean of :meth:`pixel_map` over each region
        (:func:`~segal.scorers.region_means.segment_means`).

        Args:
            ctx: The step's context.
            batch: A batch of pool images, as for :meth:`score`.
            region_maps: ``B`` region maps ``[H, W]`` at the label's resolution.
        """
        return segment_means(self.pixel_map(ctx, batch), region_maps)

    @property
    def region_score_name(self) -> str:
        """What a region's score is, for colour bars."""
        return f"region mean of {self.pixel_map_name}"

    def region_pass(self) -> "Scorer":
        """The scorer whose :meth:`region_scores` the pass over the pool's regions uses: this one by default."""
        return self

    def rerank_regions(self, ctx: ScoringContext, scores, available: np.ndarray):
        """Re-scores some regions after the pass (a shortlist); returns the scores unchanged by default.

        Args:
            ctx: The step's context.
            scores: The pass's :class:`~segal.scorers.regions.RegionScores`.
            available: ``[sum(counts)]`` bool, False for regions already labelled.
        """
        return scores

    def score_ids(self, ctx: ScoringContext, ids: Sequence[int]) -> np.ndarray:
        """Scores the given ids, one batch in memory at a time. Returns ``[N]`` float64.

        On CUDA, TF32 is off while scoring (:func:`~segal.utils.no_tf32`). With
        ``ctx.score_store``, the scores so far are saved after every batch, and
        a pass over the same ids continues after the ids an interrupted pass
        had scored (scores do not depend on batching, so the result is the same).
        Under torch.distributed (call it on every rank) each rank scores its
        shard of ``ids`` and every rank returns the scores of all of them.

        Raises:
            NonFiniteScores: A score is NaN or infinite; the message names the ids.
        """
        ids = np.asarray(ids, dtype=np.int64)
        local = shard(ids)
        resumed = self._resumed_scores(ctx, local)
        result = np.empty(len(local))
        result[: len(resumed)] = resumed
        done = len(resumed)
        with no_tf32():
            self.prepare(ctx)
            for batch in ctx.batches(local[done:], desc=f"score {type(self).__name__}"):
                batch_scores = self.score(ctx, batch).detach().double().cpu().numpy()
                result[done: done + len(batch_scores)] = batch_scores
                done += len(batch_scores)
                if ctx.score_store is not None:
                    ctx.score_store.save_scores(local[:done], result[:done])
        result = gather_arrays(result)
        check_finite_scores(type(self).__name__, ids, result)
        return result

    def _resumed_scores(self, ctx: ScoringContext, ids: np.ndarray) -> np.ndarray:
        saved = ctx.score_store.load_scores() if ctx.score_store is not None else None
        if saved is None:
            return np.zeros(0)
        saved_ids, saved_scores = saved
        if len(saved_ids) > len(ids) or not np.array_equal(saved_ids, ids[: len(saved_ids)]):
            return np.zeros(0)
        logging.getLogger("segal").info("%s: continuing an interrupted pass after %d of %d ids",
                                        type(self).__name__, len(saved_ids), len(ids))
        return saved_scores

    #: False for strategies that choose a batch jointly instead of scoring each sample (Coreset, BADGE).
    scores_each_sample = True

    def select(self, ctx: ScoringContext, k: int, rule: str = "top") -> Selection:
        """Chooses ``k`` candidates of ``ctx.pool``; ties go to the lower id.

        Args:
            ctx: The step's context.
            k: How many to choose.
            rule: ``'top'``: the ``k`` best scores. ``'per_predicted_class'``:
                the best of every class the model predicts, then the second
                best of every class, and so on
                (:func:`~segal.scorers.ranking.top_k_per_predicted_class`;
                classification only).

        Under torch.distributed every rank makes the same selection from the gathered scores.
        """
        candidates = ctx.pool.candidate_ids()
        check_budget(k, len(candidates))
        return self.select_from_scores(ctx, candidates, self.score_ids(ctx, candidates), k, rule)

    @staticmethod
    def select_from_scores(ctx: ScoringContext, candidates: np.ndarray, scores: np.ndarray, k: int,
                           rule: str = "top") -> Selection:
        """:meth:`select` for scores already computed: ``[N]`` scores of the ``[N]`` candidate ids."""
        if rule not in SELECTIONS:
            raise InvalidValue(f"loop.selection must be one of {SELECTIONS}, got {rule!r}")
        if rule == "top":
            order = top_k(scores, k)
        else:
            order = top_k_per_predicted_class(scores, ctx.predicted_classes(candidates), k)
        return Selection(ids=candidates[order], scores=scores[order])

class BudgetError(SegalError, ValueError):
    """More ids were asked for than the pool can give."""


def check_budget(k: int, available: int, what: str = "unlabelled pool ids") -> None:
    """Raises :class:`BudgetError` unless ``0 < k <= available``."""
    if k < 1:
        raise BudgetError(f"the budget must be at least 1, got {k}")
    if k > available:
        raise BudgetError(f"budget of {k} exceeds the {available} {what}")

"""Scorers that need only the model's predictions: Random, Entropy, MC-Dropout and BALD."""
from typing import List, Optional

import numpy as np
import torch

from ..errors import InvalidValue
from ..registry import SCORERS
from ..utils.precision import autocast
from ..utils.seeding import derive_seed
from .base import Scorer, ScoringContext, entropy, mean_over_elements
from .dropout_passes import (
    PassMasks,
    deterministic_prefix,
    foldable,
    folded_linear_passes,
    leading_dropout,
    memoised,
    replicated_passes,
)


@SCORERS.register_module()
class Random(Scorer):
    """Uniform random scores: a random subset of the pool. Seeded per step.

    Every global id draws its score once per step, so a sample's score depends
    neither on the batch it falls in, nor on a resumed pass, nor on the shard
    a rank scores.
    """

    def prepare(self, ctx: ScoringContext) -> None:
        self._values = torch.rand(len(ctx.pool), generator=torch.Generator().manual_seed(ctx.seed), dtype=torch.float64)

    def score(self, ctx: ScoringContext, batch: dict) -> torch.Tensor:
        return self._values[batch["id"].cpu()]

    region_score_name = "uniform random draw"

    def region_scores(self, ctx: ScoringContext, batch: dict, region_maps) -> List[torch.Tensor]:
        """Uniform random region scores, drawn per image from the step seed and the image id."""
        return [torch.from_numpy(np.random.default_rng(derive_seed(ctx.seed, int(i), "random-regions"))
                                 .random(int(regions.max()) + 1)) for i, regions in zip(batch["id"], region_maps)]


@SCORERS.register_module()
class Entropy(Scorer):
    """Entropy of the predicted class distribution, averaged over pixels for segmentation."""

    @torch.no_grad()
    def score(self, ctx: ScoringContext, batch: dict) -> torch.Tensor:
        ctx.model.eval()
        return mean_over_elements(entropy(ctx.logits(batch["inputs"], self.precision), self.statistics_dtype))


class MCStatistics:
    """Running statistics of T stochastic predictions, one pass at a time.

    Keeps the summed probabilities (float64) and, when asked, the summed
    entropies, so memory stays at one batch of probabilities whatever T is.

    Args:
        with_entropy: Also keep the per-pass entropies (BALD needs them).
    """

    def __init__(self, with_entropy: bool = True):
        self.passes, self.with_entropy = 0, with_entropy
        self.sum_probs: Optional[torch.Tensor] = None
        self.sum_entropy: Optional[torch.Tensor] = None

    def update(self, probs: torch.Tensor) -> None:
        """Adds one pass of probabilities ``[B, C, ...]`` (float64 recommended)."""
        self.update_many(probs.unsqueeze(0))

    def update_many(self, probs: torch.Tensor) -> None:
        """Adds ``G`` passes of probabilities at once: ``[G, B, C, ...]``."""
        self._add(probs, torch.log(probs.clamp_min(torch.finfo(probs.dtype).tiny)))

    def update_logits(self, logits: torch.Tensor) -> None:
        """Adds ``G`` passes given as logits ``[G, B, C, ...]``, normalised in their own dtype."""
        log_p = torch.log_softmax(logits, dim=2)
        self._add(log_p.exp(), log_p)

    def _add(self, probs: torch.Tensor, log_p: torch.Tensor) -> None:
        self.sum_probs = _accumulate(self.sum_probs, probs)
        if self.with_entropy:
            self.sum_entropy = _accumulate(self.sum_entropy, -(probs * log_p).sum(dim=2))
        self.passes += probs.shape[0]

    def predictive_entropy(self) -> torch.Tensor:
        """``H[mean_t p_t]``: ``[B, ...]``."""
        mean = self.sum_probs / self.passes
        return -(mean * torch.log(mean.clamp_min(torch.finfo(mean.dtype).tiny))).sum(dim=1)

    def mutual_information(self) -> torch.Tensor:
        """``H[mean_t p_t] - mean_t H[p_t]``: the BALD information gain, ``[B, ...]``."""
        return self.predictive_entropy() - self.sum_entropy / self.passes


def _accumulate(total: Optional[torch.Tensor], passes: torch.Tensor) -> torch.Tensor:
    """``total + passes.sum(0)`` in float64, in place when ``total`` exists.

    A single pass (the usual case: one pass at a time) is converted rather than
    reduced, which gives the same values without a reduction kernel.
    """
    summed = passes[0].to(torch.float64, copy=True) if len(passes) == 1 else passes.sum(dim=0, dtype=torch.float64)
    return summed if total is None else total.add_(summed)


class _MonteCarloDropout(Scorer):
    """T forward passes with dropout active and batch norm in eval mode.

    Masks are drawn once per pass and shared by all samples (see
    :mod:`.dropout_passes`): everything before the first dropout layer runs
    once per batch, a final ``Dropout -> Linear`` runs all T passes as one
    matrix product, and a head that starts with its dropout runs
    ``passes_per_batch`` passes as one batch.

    Args:
        num_passes: T, the number of stochastic forward passes.
        passes_per_batch: Passes run as one batch on a head that starts with
            its dropout layer (``None``: all T; lower it when ``T x
            score_batch_size`` head outputs do not fit in memory).
        precision: See :class:`~segal.scorers.base.Scorer`; with ``'fast'``,
            what precedes the first dropout runs in the training precision (all
            of DeepLabV3+, whose dropout sits in ASPP).
    """

    def __init__(self, num_passes: int = 20, passes_per_batch: Optional[int] = None, precision: str = "fast"):
        super().__init__(precision)
        if num_passes < 2:
            raise InvalidValue(f"scorer.num_passes must be >= 2, got {num_passes}")
        if passes_per_batch is not None and passes_per_batch < 1:
            raise InvalidValue(f"scorer.passes_per_batch must be >= 1, got {passes_per_batch}")
        self.num_passes = num_passes
        self.passes_per_batch = passes_per_batch or num_passes

    def prepare(self, ctx: ScoringContext) -> None:
        self.masks = PassMasks(ctx.model, ctx.seed)
        if not self.masks.layers:
            raise InvalidValue(
                f"{type(self).__name__} needs a model with dropout > 0; set model.dropout in the config"
            )

    @torch.no_grad()
    def statistics(self, ctx: ScoringContext, batch: dict) -> MCStatistics:
        """The T passes over ``batch``."""
        ctx.model.eval()
        stats = MCStatistics(with_entropy=self.needs_entropy)
        prefix, rest = deterministic_prefix(ctx.model)
        fast = ctx.amp_dtype if self.precision == "fast" else None
        with autocast(ctx.device, fast):
            features = prefix(batch["inputs"])
        features = features.float() if fast is not None else features
        if foldable(rest, features):
            layer = self.masks.layers.index(rest[0])
            masks = self.masks.stacked(layer, self.num_passes, features.shape[1:], features.dtype, features.device)
            stats.update_logits(folded_linear_passes(rest[1], features, masks))
            return stats
        if leading_dropout(rest):
            layer = self.masks.layers.index(rest[0])
            masks = self.masks.stacked(layer, self.num_passes, features.shape[1:], features.dtype, features.device)
            for logits in replicated_passes(rest[1:], features, masks, self.passes_per_batch):
                stats.update_logits(logits)
            return stats
        with memoised(rest), autocast(ctx.device, fast):  # the whole model runs per pass: inference precision
            for t in range(self.num_passes):
                with self.masks.applied(t):
                    logits = rest(features)
                    stats.update_logits((logits.float() if fast is not None else logits).unsqueeze(0))
        return stats

    #: Whether :meth:`quantity` reads the per-pass entropies.
    needs_entropy = True

    def quantity(self, stats: MCStatistics) -> torch.Tensor:
        """The per-element criterion, ``[B, ...]``."""
        raise NotImplementedError

    def score(self, ctx: ScoringContext, batch: dict) -> torch.Tensor:
        return mean_over_elements(self.pixel_map(ctx, batch))

    def pixel_map(self, ctx: ScoringContext, batch: dict) -> torch.Tensor:
        return self.quantity(self.statistics(ctx, batch))


@SCORERS.register_module()
class MCDropout(_MonteCarloDropout):
    """MC-Dropout uncertainty: the entropy of the mean of T dropout predictions.

    ``H[(1/T) sum_t p_t(y|x)]``, averaged over pixels for segmentation.

    Args:
        num_passes: T, the number of stochastic forward passes.
        passes_per_batch: See :class:`_MonteCarloDropout`.
    """

    pixel_map_name = "entropy of the mean MC-dropout prediction (nats)"

    needs_entropy = False

    def quantity(self, stats: MCStatistics) -> torch.Tensor:
        return stats.predictive_entropy()


@SCORERS.register_module()
class BALD(_MonteCarloDropout):
    """BALD: mutual information between the prediction and the weights, from T dropout passes.

    ``H[mean_t p_t] - mean_t H[p_t]``, averaged over pixels for segmentation.

    Args:
        num_passes: T, the number of stochastic forward passes.
        passes_per_batch: See :class:`_MonteCarloDropout`.
    """

    pixel_map_name = "mutual information, MC dropout (nats)"

    def quantity(self, stats: MCStatistics) -> torch.Tensor:
        return stats.mutual_information()

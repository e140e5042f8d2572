"""Scorers that need only the model's predictions: Random, Entropy, MC-Dropout and BALD."""
from typing import Optional

import torch
from torch import nn

from ..registry import SCORERS
from ..utils import derive_seed
from .base import Scorer, ScoringContext, entropy, mean_over_elements


@SCORERS.register_module()
class Random(Scorer):
    """Uniform random scores: a random subset of the pool. Seeded per step."""

    def prepare(self, ctx: ScoringContext) -> None:
        self._generator = torch.Generator().manual_seed(ctx.seed)

    def score(self, ctx: ScoringContext, batch: dict) -> torch.Tensor:
        return torch.rand(len(batch["id"]), generator=self._generator, dtype=torch.float64)


@SCORERS.register_module()
class Entropy(Scorer):
    """Entropy of the predicted class distribution, averaged over pixels for segmentation."""

    @torch.no_grad()
    def score(self, ctx: ScoringContext, batch: dict) -> torch.Tensor:
        ctx.model.eval()
        return mean_over_elements(entropy(ctx.model(batch["inputs"])))


class MCStatistics:
    """Running statistics of T stochastic predictions, one pass at a time.

    Keeps the mean probability and the mean entropy, so memory stays at one
    batch of probabilities whatever T is.
    """

    def __init__(self):
        self.passes = 0
        self.sum_probs: Optional[torch.Tensor] = None
        self.sum_entropy: Optional[torch.Tensor] = None

    def update(self, probs: torch.Tensor) -> None:
        """Adds one pass of probabilities ``[B, C, ...]`` (float64 recommended)."""
        self.update_many(probs.unsqueeze(0))

    def update_many(self, probs: torch.Tensor) -> None:
        """Adds ``G`` passes at once: ``[G, B, C, ...]``."""
        log_p = torch.log(probs.clamp_min(torch.finfo(probs.dtype).tiny))
        ent = -(probs * log_p).sum(dim=2).sum(dim=0)
        summed = probs.sum(dim=0)
        self.sum_probs = summed if self.sum_probs is None else self.sum_probs + summed
        self.sum_entropy = ent if self.sum_entropy is None else self.sum_entropy + ent
        self.passes += probs.shape[0]

    def predictive_entropy(self) -> torch.Tensor:
        """``H[mean_t p_t]``: ``[B, ...]``."""
        mean = self.sum_probs / self.passes
        return -(mean * torch.log(mean.clamp_min(torch.finfo(mean.dtype).tiny))).sum(dim=1)

    def mutual_information(self) -> torch.Tensor:
        """``H[mean_t p_t] - mean_t H[p_t]``: the BALD information gain, ``[B, ...]``."""
        return self.predictive_entropy() - self.sum_entropy / self.passes


def _is_dropout(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.dropout._DropoutNd) and module.p > 0


def deterministic_prefix(model: nn.Module):
    """Splits a probed model for MC passes: ``(prefix, stochastic_rest)`` with no dropout in ``prefix``.

    The prefix runs once per batch; only the rest is repeated per pass. That
    holds when every dropout layer is in the head or is the trunk's last layer
    (the classifiers, Unet); otherwise (dropout inside the trunk, e.g.
    DeepLabV3+'s ASPP) the prefix is empty and every pass runs the whole model.
    """
    trunk, head = model.trunk, model.head
    trunk_dropouts = [m for m in trunk.modules() if _is_dropout(m)]
    if not trunk_dropouts:
        return trunk, head
    if isinstance(trunk, nn.Sequential) and trunk_dropouts == [trunk[-1]]:
        return trunk[:-1], nn.Sequential(trunk[-1], head)
    return nn.Identity(), model


def enable_dropout(model: nn.Module) -> int:
    """Puts the model in eval mode with its dropout layers active; returns how many have p > 0."""
    model.eval()
    active = 0
    for module in model.modules():
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.train()
            active += module.p > 0
    return active


class _MonteCarloDropout(Scorer):
    """T forward passes with dropout active and batch norm in eval mode.

    Everything before the first dropout layer is computed once per batch
    (:func:`deterministic_prefix`). When what remains works on ``[B, D]``
    feature vectors (the classifiers), the T passes run as one stacked batch
    of ``T * B`` rows.
    """

    def __init__(self, num_passes: int = 20):
        if num_passes < 2:
            raise ValueError(f"scorer.num_passes must be >= 2, got {num_passes}")
        self.num_passes = num_passes

    @torch.no_grad()
    def statistics(self, ctx: ScoringContext, batch: dict) -> MCStatistics:
        """T passes over ``batch``; dropout masks are seeded by the step seed and the batch's first id."""
        torch.manual_seed(derive_seed(ctx.seed, int(batch["id"][0]), "mc-dropout"))
        if not enable_dropout(ctx.model):
            raise ValueError(
                f"{type(self).__name__} needs a model with dropout > 0; set model.dropout in the config"
            )
        stats = MCStatistics()
        prefix, rest = deterministic_prefix(ctx.model)
        try:
            features = prefix(batch["inputs"])
            at_once = self.num_passes if features.ndim == 2 else 1  # stack passes of small feature vectors
            for start in range(0, self.num_passes, at_once):
                group = min(at_once, self.num_passes - start)
                logits = rest(features.repeat(group, *([1] * (features.ndim - 1))))
                stats.update_many(torch.softmax(logits.double(), dim=1).view(group, *features.shape[:1], *logits.shape[1:]))
        finally:
            ctx.model.eval()
        return stats

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
    """

    def quantity(self, stats: MCStatistics) -> torch.Tensor:
        return stats.predictive_entropy()


@SCORERS.register_module()
class BALD(_MonteCarloDropout):
    """BALD: mutual information between the prediction and the weights, from T dropout passes.

    ``H[mean_t p_t] - mean_t H[p_t]``, averaged over pixels for segmentation.

    Args:
        num_passes: T, the number of stochastic forward passes.
    """

    def quantity(self, stats: MCStatistics) -> torch.Tensor:
        return stats.mutual_information()

"""Scorers that need only the model's predictions: Random and Entropy."""
import torch

from ..registry import SCORERS
from .base import Scorer, ScoringContext, mean_over_elements


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Predictive entropy over the class dim 1, in float64: ``[B, C, ...] -> [B, ...]``."""
    log_p = torch.log_softmax(logits.double(), dim=1)
    return -(log_p.exp() * log_p).sum(dim=1)


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

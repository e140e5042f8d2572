"""Expected error reduction (Roy & McCallum, 2001) with pseudo-label updates of the head."""
from typing import Optional

import numpy as np
import torch
from torch.func import vmap

from ..errors import InvalidValue
from ..registry import SCORERS
from .base import Scorer, ScoringContext
from .head_probe import HeadProbe, check_probe_settings

ERRORS = ("log", "zero_one")


@SCORERS.register_module()
class ErrReduction(Scorer):
    """Roy & McCallum's expected error reduction, estimated on a random subset of the pool.

    For a candidate x and each label c, the head takes ``steps`` SGD steps on
    (x, c) as HoldoutLossChange does; the resulting model's error is estimated
    on a random subset U of the pool with its own predictions:
    ``log``: ``mean_u H[p(.|u)]``, or ``zero_one``: ``mean_u 1 - max_c p(c|u)``.
    The expected error weights these by the current ``p(c|x)``; candidates
    with the lowest expected error score highest (score = -expected error).

    Args:
        subset_size: Size of the pool subset U, drawn per step.
        steps: SGD iterations per (candidate, label) pair.
        lr: SGD learning rate.
        error: ``'log'`` or ``'zero_one'``.
        chunk_size: (candidate, label) pairs per vmap chunk; ``None``: all of a batch.
        precision: ``'fast'`` or ``'exact'`` trunk features (see :class:`~segal.scorers.base.Scorer`).
    """

    scores_regions = False

    def __init__(self, subset_size: int = 200, steps: int = 3, lr: float = 1e-3, error: str = "log",
                 chunk_size: Optional[int] = None, precision: str = "fast"):
        super().__init__(precision)
        check_probe_settings(steps, lr)
        if error not in ERRORS:
            raise InvalidValue(f"scorer.error must be one of {ERRORS}, got {error!r}")
        if subset_size < 1:
            raise InvalidValue(f"scorer.subset_size must be >= 1, got {subset_size}")
        self.subset_size, self.steps, self.lr, self.error, self.chunk_size = subset_size, steps, lr, error, chunk_size

    def prepare(self, ctx: ScoringContext) -> None:
        self.probe = HeadProbe(ctx.model.head)
        candidates = ctx.pool.candidate_ids()
        rng = np.random.default_rng(ctx.seed)
        self.subset_ids = np.sort(rng.choice(candidates, size=min(self.subset_size, len(candidates)), replace=False))
        self.subset_z = ctx.trunk_features(self.subset_ids, self.precision)
        if self.subset_z.ndim != 2:
            raise InvalidValue("ErrReduction supports classification heads on [N, D] features only")

    def _subset_error(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        params = self.probe.sgd(z, label, self.steps, self.lr)
        log_p = torch.log_softmax(self.probe.logits(params, self.subset_z).double(), dim=1)  # [U, C]
        if self.error == "log":
            return -(log_p.exp() * log_p).sum(1).mean()
        return (1 - log_p.exp().max(1).values).mean()

    @torch.no_grad()
    def score(self, ctx: ScoringContext, batch: dict) -> torch.Tensor:
        ctx.model.eval()
        z = ctx.trunk(batch["inputs"], self.precision)  # [B, D]
        probs = torch.softmax(self.probe.logits(self.probe.params, z).double(), dim=1)  # [B, C]
        batch_size, num_classes = probs.shape
        pair_z = z.repeat_interleave(num_classes, dim=0)  # [B * C, D]
        pair_label = torch.arange(num_classes, device=z.device).repeat(batch_size)
        errors = vmap(self._subset_error, chunk_size=self.chunk_size)(pair_z, pair_label)  # [B * C]
        expected = (probs * errors.view(batch_size, num_classes)).sum(1)
        return -expected

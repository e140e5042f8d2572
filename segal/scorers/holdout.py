"""The paper's criterion (eq. 3, "Ours") and its first-order form (eq. 10, "Ours-app").

Both treat the model's prediction on a pool sample as its label and ask how
learning from it would change the loss on the holdout set, touching only the
probed head (``model.head``) on cached trunk features.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch.func import jvp, vmap

from ..registry import SCORERS
from .base import Scorer, ScoringContext, mean_over_elements
from .head_probe import HeadProbe

REDUCTIONS = ("mean", "rise")


def reduce_holdout_change(diff: torch.Tensor, valid: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduces per-element holdout loss changes to one score per pool sample, in float64.

    Args:
        diff: ``[B, Nv, ...]`` loss after minus loss before, per holdout element.
        valid: ``[Nv, ...]`` mask of the holdout elements that count.
        reduction: ``'mean'`` averages every counted element (eq. 3 up to the
            constant 1/Nv). ``'rise'`` averages only the elements whose loss
            rose (section 4.2); a sample that raises no loss scores 0.

    Returns:
        ``[B]`` float64 scores.
    """
    diff = diff.double().flatten(1)
    valid = valid.flatten().unsqueeze(0)
    if reduction == "mean":
        return (diff * valid).sum(1) / valid.sum().clamp(min=1)
    counted = valid & (diff > 0)
    return (diff * counted).sum(1) / counted.sum(1).clamp(min=1)


@SCORERS.register_module()
class HoldoutLossChange(Scorer):
    """The paper's criterion S(x) = l_v(theta_x) - l_v(theta) (eq. 2-3).

    For each pool sample, its predicted label is taken as the truth and
    ``steps`` SGD steps with learning rate ``lr`` are taken on the head from the
    current weights; the score is how much the holdout loss rises. All pool
    samples of a batch are updated at once with ``torch.func.vmap``.

    Args:
        steps: SGD iterations per pool sample (the paper: 3).
        lr: SGD learning rate (the paper: 1e-3 for the MLP, 1e-4 for ResNet).
        reduction: ``'mean'`` over holdout elements, or ``'rise'``: the mean over
            the holdout elements whose loss rose (the paper's segmentation
            variant). ``None`` picks ``'mean'`` for classification and
            ``'rise'`` for segmentation.
        chunk_size: Pool samples per vmap chunk; bounds memory at
            ``chunk_size * holdout elements * classes``. ``None``: the whole batch.
    """

    def __init__(self, steps: int = 3, lr: float = 1e-3, reduction: Optional[str] = None, chunk_size: Optional[int] = None):
        if steps < 1:
            raise ValueError(f"scorer.steps must be >= 1, got {steps}")
        if lr <= 0:
            raise ValueError(f"scorer.lr must be > 0, got {lr}")
        if reduction not in (None,) + REDUCTIONS:
            raise ValueError(f"scorer.reduction must be one of {REDUCTIONS} or None, got {reduction!r}")
        self.steps, self.lr, self.reduction, self.chunk_size = steps, lr, reduction, chunk_size

    def prepare(self, ctx: ScoringContext) -> None:
        self.probe = HeadProbe(ctx.model.head, ctx.ignore_index)
        self.holdout_z, self.holdout_y = ctx.labelled_features(ctx.pool.holdout_ids)
        with torch.no_grad():
            self.holdout_before = self.probe.element_losses(self.probe.params, self.holdout_z, self.holdout_y)
        self.holdout_valid = self.probe.valid(self.holdout_y)
        self._reduction = self.reduction or ("mean" if self.holdout_y.ndim == 1 else "rise")

    def _holdout_losses_after(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        params = self.probe.sgd(z, y, self.steps, self.lr)
        return self.probe.element_losses(params, self.holdout_z, self.holdout_y)

    @torch.no_grad()
    def score(self, ctx: ScoringContext, batch: dict) -> torch.Tensor:
        ctx.model.eval()
        z = ctx.model.trunk(batch["inputs"])
        pseudo = self.probe.logits(self.probe.params, z).argmax(1)
        after = vmap(self._holdout_losses_after, chunk_size=self.chunk_size)(z, pseudo)  # [B, Nv, ...]
        diff = after.double() - self.holdout_before.double().unsqueeze(0)
        return reduce_holdout_change(diff, self.holdout_valid, self._reduction)


@SCORERS.register_module()
class HoldoutLossChangeApprox(Scorer):
    """The first-order criterion S_a(x) = -grad l_v(theta) . grad l(x, y_hat; theta) (eq. 10).

    The holdout gradient (of the mean holdout loss) is computed once per step.
    A pool sample's score is then minus the directional derivative of its
    pseudo-label loss along that gradient: one forward-mode ``torch.func.jvp``
    per batch gives every sample's score, without per-sample gradients.
    """

    def prepare(self, ctx: ScoringContext) -> None:
        self.probe = HeadProbe(ctx.model.head, ctx.ignore_index)
        holdout_z, holdout_y = ctx.labelled_features(ctx.pool.holdout_ids)
        params = {k: v.clone().requires_grad_(True) for k, v in self.probe.params.items()}
        with torch.enable_grad():
            loss = F.cross_entropy(
                self.probe.logits(params, holdout_z), holdout_y, ignore_index=self.probe.ignore_index
            )
            grads = torch.autograd.grad(loss, list(params.values()))
        self.holdout_grad = dict(zip(params, (g.detach() for g in grads)))

    @torch.no_grad()
    def score(self, ctx: ScoringContext, batch: dict) -> torch.Tensor:
        ctx.model.eval()
        z = ctx.model.trunk(batch["inputs"])
        pseudo = self.probe.logits(self.probe.params, z).argmax(1)

        def pool_losses(params):  # [B]: each sample's mean pseudo-label loss
            return mean_over_elements(F.cross_entropy(self.probe.logits(params, z), pseudo, reduction="none"))

        _, along_holdout_grad = jvp(pool_losses, (self.probe.params,), (self.holdout_grad,))
        return -along_holdout_grad.double()

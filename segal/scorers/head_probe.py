"""A functional view of a model's probed head, for per-sample updates with ``torch.func``.

Shapes: a trunk feature ``z`` is ``[D]`` for classification or ``[D, h, w]``
for segmentation; a target ``y`` is ``[]`` or ``[H, W]``; head logits are
``[C]`` or ``[C, H, W]`` per sample.
"""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad

from ..errors import InvalidValue

Params = Dict[str, torch.Tensor]

#: The largest ``scorer.lr`` accepted. From lr 1e-1 one step already fits the pseudo-label on the shipped
#: models (docs/results/findings.md), so larger rates change nothing but the risk of overflow.
MAX_PROBE_LR = 100.0


def check_probe_settings(steps: int, lr: float) -> None:
    """Checks the SGD settings of a head probe: ``steps >= 1`` and ``0 < lr <= MAX_PROBE_LR``.

    Raises:
        ValueError: Naming the setting and its value.
    """
    if steps < 1:
        raise InvalidValue(f"scorer.steps must be >= 1, got {steps}")
    if not 0 < lr <= MAX_PROBE_LR:
        raise InvalidValue(f"scorer.lr must be in (0, {MAX_PROBE_LR:g}], got {lr}")


class HeadProbe:
    """Evaluates and updates ``model.head`` as a pure function of its parameters.

    Args:
        head: The probed head (its current parameters are the starting point).
        ignore_index: Target value excluded from holdout losses, or ``None``.
    """

    def __init__(self, head: nn.Module, ignore_index: Optional[int] = None):
        self.head = head
        self.params: Params = {k: p.detach() for k, p in head.named_parameters()}
        self.buffers: Params = {k: b.detach() for k, b in head.named_buffers()}
        self.ignore_index = -100 if ignore_index is None else ignore_index

    def logits(self, params: Params, z: torch.Tensor) -> torch.Tensor:
        """Head output for a batch of features ``[N, D, ...] -> [N, C, ...]``."""
        return functional_call(self.head, (params, self.buffers), (z,))

    def sample_loss(self, params: Params, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of one sample (over its pixels for segmentation): a scalar."""
        return F.cross_entropy(self.logits(params, z.unsqueeze(0)), y.unsqueeze(0))

    def element_losses(self, params: Params, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy per sample or pixel, ``[N, ...]``; ignored pixels give 0."""
        return F.cross_entropy(self.logits(params, z), y, reduction="none", ignore_index=self.ignore_index)

    def valid(self, y: torch.Tensor) -> torch.Tensor:
        """Mask of the targets that count (not ``ignore_index``)."""
        return y != self.ignore_index

    def sgd_delta(self, z: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> Params:
        """The change of every head parameter after ``steps`` SGD steps on one sample's loss; vmappable.

        The change is accumulated on its own rather than folded into the
        parameters, so it keeps its precision however small it is next to them.
        """
        loss_grad = grad(self.sample_loss)
        delta = {k: torch.zeros_like(p) for k, p in self.params.items()}
        for _ in range(steps):
            grads = loss_grad({k: self.params[k] + delta[k] for k in delta}, z, y)
            delta = {k: delta[k] - lr * grads[k] for k in delta}
        return delta

    def sgd(self, z: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> Params:
        """Head parameters after ``steps`` SGD steps on one sample's loss; vmappable over samples."""
        delta = self.sgd_delta(z, y, steps, lr)
        return {k: self.params[k] + delta[k] for k in delta}

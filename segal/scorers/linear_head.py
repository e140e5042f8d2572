"""Closed-form per-sample SGD on a linear head, for HoldoutLossChange.

For a linear head ``logits = W z + b`` and cross-entropy with a fixed label
``y``, one SGD step on sample ``z`` changes the weights by ``-lr g z^T`` and
the bias by ``-lr g`` with ``g = softmax(logits) - onehot(y)``. The sample's own
logits therefore move by ``-lr k g`` with ``k = |z|^2 + 1`` (no ``+ 1`` without
a bias), so the whole inner optimisation runs in the C-dimensional logit space:
after ``steps`` steps the update is ``W -= lr a z^T``, ``b -= lr a`` with
``a = sum_t g_t``. A holdout sample ``z_j`` then sees its logits move by
``delta_j = -lr (z_j . z + 1) a``: only the pool x holdout Gram product
``z_j . z`` is needed, never the updated weights.

The loss change is evaluated in delta form,
``log(sum_c p_jc exp(delta_jc)) - delta_j,y_j = log1p(sum_c p_jc expm1(delta_jc)) - delta_j,y_j``,
which keeps full relative precision however small the change is next to the
loss itself. The ``[B, Nv, C]`` part runs in the features' dtype (its values
are small, so float32 keeps ~7 significant digits of each change); the
per-sample inner optimisation runs in float64 and the result is float64.
"""
import torch
from torch import nn


def accumulated_gradients(logits: torch.Tensor, sq_norm: torch.Tensor, steps: int, lr: float) -> torch.Tensor:
    """``a = sum_t (softmax(l_t) - onehot(y))`` over ``steps`` SGD steps, with ``y`` the argmax of ``l_0``.

    Args:
        logits: ``[B, C]`` pool logits at the current weights (float64).
        sq_norm: ``[B]`` ``|z|^2 (+ 1 with a bias)``: how far one step moves a sample's own logits.
        steps: SGD steps.
        lr: SGD learning rate.

    Returns:
        ``[B, C]`` float64.
    """
    onehot = torch.zeros_like(logits).scatter_(1, logits.argmax(1, keepdim=True), 1.0)
    total, current = torch.zeros_like(logits), logits
    for _ in range(steps):
        g = torch.softmax(current, dim=1) - onehot
        total = total + g
        current = current - lr * sq_norm[:, None] * g
    return total


def holdout_loss_changes(head: nn.Linear, z: torch.Tensor, holdout_z: torch.Tensor, holdout_y: torch.Tensor,
                         holdout_probs: torch.Tensor, steps: int, lr: float) -> torch.Tensor:
    """``[B, Nv]`` float64: holdout loss change per (pool sample, holdout sample) after its SGD steps.

    Args:
        head: The linear head.
        z: ``[B, D]`` pool features.
        holdout_z: ``[Nv, D]`` holdout features.
        holdout_y: ``[Nv]`` holdout labels.
        holdout_probs: ``[Nv, C]`` float64 holdout probabilities at the current weights.
        steps: SGD steps per pool sample.
        lr: SGD learning rate.
    """
    bias = 1.0 if head.bias is not None else 0.0
    with torch.no_grad():
        logits = head(z).double()
        sq_norm = z.double().pow(2).sum(1) + bias
        step = (lr * accumulated_gradients(logits, sq_norm, steps, lr)).to(z.dtype)  # [B, C]
        gram = z @ holdout_z.T + bias  # [B, Nv]
        delta = -gram[:, :, None] * step[:, None, :]  # [B, Nv, C]
        log_ratio = torch.log1p((holdout_probs.to(z.dtype)[None] * torch.expm1(delta)).sum(-1))
        own = delta.gather(2, holdout_y.view(1, -1, 1).expand(len(z), -1, 1)).squeeze(2)
        return (log_ratio - own).double()

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
loss itself (and becomes a log-sum-exp where a change is too large for ``exp``).
``expm1`` is taken as ``2 t / (1 - t)`` with ``t = tanh(delta / 2)``:
as accurate, and vectorised on CPUs where ``torch.expm1`` is not. The
``[B, Nv, C]`` part runs in the features' dtype, a block of pool rows at a time
(its values are small, so float32 keeps ~7 significant digits of each change);
the per-sample inner optimisation runs in float64 and the result is float64.
"""
import torch
from torch import nn

#: Size of the [rows, Nv, C] blocks the loss changes are computed in (cache-sized, bounds memory).
ELEMENTS_PER_BLOCK = 2**20
#: Above this |delta| a block uses torch.expm1, as 1 - tanh(delta / 2) loses precision near 0.
TANH_LIMIT = 2.0
#: Above this delta an element's sum is a log-sum-exp instead (float32's exp overflows at 88).
SHIFT_LIMIT = 30.0


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
        twice_probs = 2 * holdout_probs.to(z.dtype)  # [Nv, C]
        rows = max(1, ELEMENTS_PER_BLOCK // holdout_probs.numel())
        log_ratio = torch.cat([log_expected_exp(gram[r:r + rows], step[r:r + rows], twice_probs)
                               for r in range(0, len(z), rows)])
        own = -gram * step[:, holdout_y]  # delta at each holdout sample's label
        return (log_ratio - own).double()


def log_expected_exp(gram: torch.Tensor, step: torch.Tensor, twice_probs: torch.Tensor) -> torch.Tensor:
    """``log(sum_c p_jc exp(-gram_bj step_bc))``.

    Args:
        gram: ``[b, Nv]`` pool x holdout feature products (plus the bias term).
        step: ``[b, C]`` each pool sample's accumulated update ``lr a``.
        twice_probs: ``[Nv, C]`` twice the holdout probabilities.

    Returns:
        ``[b, Nv]``.
    """
    bound = gram.abs().amax(1).mul(step.abs().amax(1)).max()  # max |delta| without forming delta
    return weighted_log_exp(gram[:, :, None] * (-0.5 * step)[:, None, :], twice_probs, -1, bound)


def weighted_log_exp(half_delta: torch.Tensor, twice_weights: torch.Tensor, dim: int,
                     max_abs_delta: torch.Tensor) -> torch.Tensor:
    """``log(sum_dim w exp(delta)) = log1p(sum_dim w expm1(delta))`` for weights ``w`` summing to 1.

    Given ``delta / 2`` (overwritten) and ``2 w`` broadcasting against it.
    ``expm1(delta) = 2 t / (1 - t)`` with ``t = tanh(delta / 2)``: full relative
    precision for small ``delta``, and vectorised on CPUs where ``torch.expm1``
    is not. Above ``TANH_LIMIT`` (``max_abs_delta``, from the caller), where
    ``1 - t`` loses digits, ``torch.expm1`` itself is used. Where a change
    exceeds ``SHIFT_LIMIT`` (a large ``scorer.lr``; float32's ``exp`` overflows
    at 88), the sum is a weighted log-sum-exp: the result is then at least of
    the order of that change, so the log1p form has no precision to keep.
    """
    if max_abs_delta <= TANH_LIMIT:
        t = half_delta.tanh_()
        return (t * twice_weights).div_(torch.rsub(t, 1)).sum(dim).log1p_()
    delta = half_delta.mul_(2)
    top = delta.amax(dim)
    small = (twice_weights * torch.expm1(delta.clamp(max=SHIFT_LIMIT))).sum(dim).div_(2).log1p_()
    if top.max() <= SHIFT_LIMIT:
        return small
    large = torch.logsumexp(delta + (twice_weights / 2).log(), dim)
    return torch.where(top > SHIFT_LIMIT, large, small)

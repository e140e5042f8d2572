"""A head's output change under a small parameter change, propagated layer by layer (delta form).

After a few SGD steps with a small learning rate the head's logits move by a
tiny fraction of their size. Running the head twice and subtracting, in
float32, leaves only a few correct digits of that move. Here the change is
carried through the layers instead: for a layer ``f_theta`` with input
``x`` and input change ``d``, the output change
``f_{theta + dtheta}(x + d) - f_theta(x)`` is written without any difference
of two large numbers, e.g. ``conv(d, W + dW) + conv(x, dW) + db`` for a
convolution. The result keeps float32's relative precision in the change
itself.

Supported heads are chains of ``Conv2d``, ``Linear``, ``BatchNorm2d`` (eval),
``ReLU``, ``Identity``, dropout (eval) and ``Upsample`` layers: the probe
heads of every segal model.
"""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .linear_head import weighted_log_exp

Params = Dict[str, torch.Tensor]
PASS_THROUGH = (nn.Identity, nn.modules.dropout._DropoutNd)
SUPPORTED = (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.ReLU, nn.Upsample, nn.UpsamplingBilinear2d) + PASS_THROUGH


class UnsupportedHead(ValueError):
    """The head has a layer without a delta rule, or is not a plain chain of its layers."""


def chain_layers(head: nn.Module) -> List[Tuple[str, nn.Module]]:
    """The head's leaf layers in call order, with their name prefixes.

    Raises:
        UnsupportedHead: For a layer without a delta rule.
    """
    layers = [(name, m) for name, m in head.named_modules() if not list(m.children())]
    for name, m in layers:
        if not isinstance(m, SUPPORTED):
            raise UnsupportedHead(f"head.{name} ({type(m).__name__}) has no delta rule")
    return layers


class DeltaChain:
    """Evaluates a chain head and the change of its output under a parameter change ``delta``.

    Args:
        head: The head; its leaf layers, in module order, must be what its forward runs.
    """

    def __init__(self, head: nn.Module):
        self.layers = chain_layers(head)

    @staticmethod
    def _param(params: Params, prefix: str, name: str) -> Optional[torch.Tensor]:
        return params.get(f"{prefix}.{name}" if prefix else name)

    def forward(self, params: Params, buffers: Params, x: torch.Tensor) -> List[torch.Tensor]:
        """The input of every layer, then the output: ``len(layers) + 1`` tensors."""
        values = [x]
        for prefix, layer in self.layers:
            x = self._apply(layer, prefix, params, buffers, x)
            values.append(x)
        return values

    def _apply(self, layer, prefix, params, buffers, x):
        weight, bias = self._param(params, prefix, "weight"), self._param(params, prefix, "bias")
        if isinstance(layer, nn.Conv2d):
            return F.conv2d(x, weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups)
        if isinstance(layer, nn.Linear):
            return F.linear(x, weight, bias)
        if isinstance(layer, nn.BatchNorm2d):
            mean, var = self._param(buffers, prefix, "running_mean"), self._param(buffers, prefix, "running_var")
            return F.batch_norm(x, mean, var, weight, bias, False, 0.0, layer.eps)
        if isinstance(layer, nn.ReLU):
            return F.relu(x)
        if isinstance(layer, PASS_THROUGH):
            return x
        return layer(x)  # upsampling

    def change(self, params: Params, delta: Params, buffers: Params, values: List[torch.Tensor]) -> torch.Tensor:
        """The output change when the parameters move from ``params`` to ``params + delta``.

        Args:
            params: The parameters ``values`` were computed with.
            delta: The parameter change, by name (every parameter of the head).
            buffers: The head's buffers.
            values: :meth:`forward`'s result for the input.
        """
        d = None  # the input does not change
        for (prefix, layer), x in zip(self.layers, values[:-1]):
            d = self._change(layer, prefix, params, delta, buffers, x, d)
        return d if d is not None else torch.zeros_like(values[-1])

    def _change(self, layer, prefix, params, delta, buffers, x, d):
        weight, d_weight = self._param(params, prefix, "weight"), self._param(delta, prefix, "weight")
        d_bias = self._param(delta, prefix, "bias")
        if isinstance(layer, nn.Conv2d):
            conv = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups)
            out = F.conv2d(x, d_weight, d_bias, **conv)
            return out if d is None else out + F.conv2d(d, weight + d_weight, None, **conv)
        if isinstance(layer, nn.Linear):
            out = F.linear(x, d_weight, d_bias)
            return out if d is None else out + F.linear(d, weight + d_weight)
        if isinstance(layer, nn.BatchNorm2d):
            mean, var = self._param(buffers, prefix, "running_mean"), self._param(buffers, prefix, "running_var")
            scale = torch.rsqrt(var + layer.eps)
            if weight is None:
                return None if d is None else d * scale[:, None, None]
            out = ((x - mean[:, None, None]) * (d_weight * scale)[:, None, None]) + d_bias[:, None, None]
            return out if d is None else out + d * ((weight + d_weight) * scale)[:, None, None]
        if d is None:
            return None
        if isinstance(layer, nn.ReLU):
            moved = x + d
            return torch.where(moved > 0, torch.where(x > 0, d, moved), torch.where(x > 0, -x, torch.zeros_like(x)))
        if isinstance(layer, PASS_THROUGH):
            return d
        return layer(d)  # upsampling is linear


def cross_entropy_change(probs: torch.Tensor, change: torch.Tensor, target: torch.Tensor,
                         ignore_index: int) -> torch.Tensor:
    """Per-element cross-entropy change when ``logits`` move by ``change``; ignored elements give 0.

    ``log(sum_c p_c exp(change_c)) - change_y = log1p(sum_c p_c expm1(change_c)) - change_y`` with
    ``p`` the probabilities before the change, so small changes keep their relative precision
    (``expm1`` as in :func:`.linear_head.weighted_log_exp`, a log-sum-exp where a change is large).

    Args:
        probs: ``[N, C, ...]`` class probabilities before the change.
        change: ``[*lead, N, C, ...]`` changes (e.g. one per pool sample).
        target: ``[N, ...]`` labels.
        ignore_index: Label that does not count.

    Returns:
        ``[*lead, N, ...]``.
    """
    class_dim = change.ndim - target.ndim
    log_ratio = weighted_log_exp(0.5 * change, 2 * probs, class_dim, change.abs().max())
    valid = target != ignore_index
    label = torch.where(valid, target, torch.zeros_like(target)).unsqueeze(1)  # [N, 1, ...]
    own = change.gather(class_dim, label.expand(*change.shape[:class_dim], *label.shape[1:])).squeeze(class_dim)
    return torch.where(valid, log_ratio - own, torch.zeros_like(own))

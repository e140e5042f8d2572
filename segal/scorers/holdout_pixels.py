"""Holdout losses on a fixed random subset of pixel rows, computed exactly from thin feature bands.

A segmentation head is local: a few convolutions at feature resolution, then
a parameter-free upsampling. The logits of one output row therefore depend on
at most two feature rows (the upsampling's sources) and on ``margin`` rows
around them (the convolutions' reach). For a random set of feature-row pairs
``(r, r + 1)`` per holdout image, the head runs on bands of ``2 + 2 * margin``
feature rows only; the output rows whose sources are ``r`` and ``r + 1`` are
interpolated with the upsampler's own weights. Every logit computed this way
equals the full head's logit at that pixel; only fewer pixels are evaluated.

Shapes: holdout features ``[N, D, h, w]``, targets ``[N, H, W]``; ``k`` row
pairs per image give ``S = N * k`` bands of ``[D, hb, w]`` (``hb = 2 + 2 *
margin``), and up to ``R`` output rows per band.
"""
import copy
import math
from typing import Dict, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidValue

#: Leaf modules that act on each pixel alone (or are switched off in eval mode).
POINTWISE = (nn.BatchNorm2d, nn.Identity, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh,
             nn.Hardswish, nn.modules.dropout._DropoutNd)
UPSAMPLERS = (nn.Upsample, nn.UpsamplingBilinear2d)


def _leaves(module: nn.Module):
    return [(name, m) for name, m in module.named_modules() if not list(m.children())]


def split_upsampler(head: nn.Module) -> Tuple[nn.Module, nn.Module, int]:
    """A copy of ``head`` without its final upsampling, the upsampler, and the convolutions' reach.

    Returns:
        ``(body, upsampler, margin)``: ``body`` shares the head's parameter names
        (the upsampler is replaced by an ``Identity``); ``upsampler`` is
        ``nn.Identity`` when the head does not upsample; ``margin`` is how many
        feature rows above and below an output row its logits depend on.

    Raises:
        ValueError: For a layer that is not local (pooling, attention, a strided
            convolution) or an upsampler followed by a layer with parameters.
    """
    body = copy.deepcopy(head)
    leaves = _leaves(body)
    upsamplers = [i for i, (_, m) in enumerate(leaves) if isinstance(m, UPSAMPLERS)]
    upsampler: nn.Module = nn.Identity()
    if upsamplers:
        index = upsamplers[-1]
        if len(upsamplers) > 1 or any(not isinstance(m, POINTWISE) for _, m in leaves[index + 1:]):
            raise InvalidValue("holdout_pixels needs a head whose only upsampling is its last layer")
        name, upsampler = leaves[index]
        parent_name, _, child = name.rpartition(".")
        setattr(body.get_submodule(parent_name) if parent_name else body, child, nn.Identity())
    margin = 0
    for name, m in _leaves(body):
        if isinstance(m, nn.Conv2d):
            kernel, dilation, padding = m.kernel_size[0], m.dilation[0], m.padding
            if m.stride != (1, 1) or padding not in ((dilation * (kernel - 1) // 2,) * 2, "same"):
                raise InvalidValue(f"holdout_pixels needs stride-1 'same' convolutions in the head; head.{name} is {m}")
            margin += dilation * (kernel - 1) // 2
        elif not isinstance(m, POINTWISE):
            raise InvalidValue(f"holdout_pixels needs a head of local layers; head.{name} ({type(m).__name__}) is not")
    return body, upsampler, margin


def interpolation_weights(upsampler: nn.Module, size: int, axis: int) -> torch.Tensor:
    """``[out, size]``: how the upsampler mixes ``size`` input rows (``axis=0``) or columns (``axis=1``).

    Read off the module itself by upsampling one-hot rows, so any scale and
    ``align_corners`` setting is honoured.
    """
    eye = torch.eye(size, dtype=torch.float64)
    probe = eye.view(size, 1, size, 1) if axis == 0 else eye.view(size, 1, 1, size)
    out = upsampler(probe)
    return (out[:, 0, :, 0] if axis == 0 else out[:, 0, 0, :]).T.contiguous()


class HoldoutRowBands:
    """The holdout set restricted to a fixed random subset of pixel rows.

    Args:
        head: The probed head.
        buffers: The head's buffers (batch-norm statistics), by name.
        features: ``[N, D, h, w]`` holdout trunk features.
        targets: ``[N, H, W]`` holdout labels.
        fraction: About this fraction of each image's pixels is evaluated
            (whole rows; at least one row pair per image).
        generator: Draws the row pairs.
        ignore_index: Label that does not count; padding rows get it too.
    """

    def __init__(self, head: nn.Module, buffers: Dict[str, torch.Tensor], features: torch.Tensor,
                 targets: torch.Tensor, fraction: float, generator: np.random.Generator, ignore_index: int):
        self.body, upsampler, margin = split_upsampler(head)
        self.buffers, self.ignore_index = buffers, ignore_index
        (n, _, h, w), (height, width) = features.shape, targets.shape[-2:]
        rows = interpolation_weights(upsampler, h, axis=0)  # [H, h]
        if rows.shape[0] != height:
            raise InvalidValue(f"the head upsamples {h} feature rows to {rows.shape[0]}, but labels have {height} rows")
        self.columns = interpolation_weights(upsampler, w, axis=1).to(features)  # [W, w]
        band_height = min(h, 2 + 2 * margin)
        # each output row belongs to the pair starting at its first source row
        first_source = (rows != 0).double().argmax(1).clamp(max=max(h - 2, 0))
        pairs = max(1, min(h - 1, math.ceil(fraction * (h - 1))))
        bands, weights, labels, chosen_rows = [], [], [], []
        out_rows = [torch.nonzero(first_source == r).flatten() for r in range(max(h - 1, 1))]
        max_rows = max(len(o) for o in out_rows)
        for image in range(n):
            for r in sorted(generator.choice(len(out_rows), size=pairs, replace=False).tolist()):
                start = min(max(r - margin, 0), h - band_height)
                bands.append(features[image, :, start:start + band_height])
                chosen = out_rows[r]
                weight = torch.zeros(max_rows, band_height, dtype=torch.float64)
                weight[:len(chosen)] = rows[chosen, start:start + band_height]
                label = torch.full((max_rows, width), ignore_index, dtype=targets.dtype, device=targets.device)
                label[:len(chosen)] = targets[image, chosen.to(targets.device)]
                weights.append(weight)
                labels.append(label)
                chosen_rows.append(F.pad(chosen, (0, max_rows - len(chosen)), value=-1))
        self.pairs_per_image = pairs
        self.bands = torch.stack(bands)  # [S, D, hb, w]
        self.row_weights = torch.stack(weights).to(features)  # [S, R, hb]
        self.targets = torch.stack(labels)  # [S, R, W]
        self.rows = torch.stack(chosen_rows)  # [S, R] output row of each band row, -1 for padding

    def band_slice(self, images: slice) -> slice:
        """The bands of holdout images ``images``."""
        k = self.pairs_per_image
        return slice(images.start * k, images.stop * k)

    def interpolate(self, low: torch.Tensor, bands: slice) -> torch.Tensor:
        """``[..., s, C, hb, w] -> [..., s, C, R, W]``: the chosen output rows from the body's band output."""
        return torch.einsum("...schw,srh,Ww->...scrW", low, self.row_weights[bands], self.columns)

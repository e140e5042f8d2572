"""Monte Carlo dropout passes with masks drawn once per pass and shared by every sample.

Pass ``t`` samples one dropout mask per dropout layer and applies it to every
pool sample, as if the pass had drawn one set of thinned weights (consistent
MC dropout). Each sample's T predictions have the same distribution as with
fresh masks per sample, but the scores no longer depend on which batch a
sample falls in, and the passes get cheaper:

* everything before the first dropout layer runs once per batch
  (:func:`deterministic_prefix`);
* when what follows is ``Dropout -> Linear`` on ``[B, D]`` features (the
  classifiers), the masks fold into the weights: all T passes are one
  ``[B, D] x [D, T * C]`` product (:func:`folded_linear_passes`);
* when what follows is a dropout layer and then dropout-free layers (the
  segmentation heads of Unet and FPN with ``model.dropout``), the passes run
  as one batch: the features are replicated once per pass, each replicate
  multiplied by its pass's mask, and the rest runs once on ``[G * B, ...]``
  for groups of ``G`` passes (:func:`replicated_passes`), as baal's
  ``replicate_in_memory`` does;
* otherwise each pass re-runs the rest, with forward hooks applying the
  pass's masks to the dropout layers (:class:`PassMasks`), and every
  dropout-free submodule that sees the same input as in the previous pass
  returns its stored output instead of running again (:func:`memoised`):
  DeepLabV3+'s encoder and ASPP branches run once, although ASPP's dropout
  sits inside the trunk.

Masks depend only on the step seed, the pass, the layer and the feature shape.
"""
import itertools
from contextlib import contextmanager
from typing import Dict, Iterator, List, Tuple

import torch
from torch import nn

from ..errors import InvalidValue
from ..utils.seeding import derive_seed

SUPPORTED = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)


def active_dropouts(model: nn.Module) -> List[nn.Module]:
    """The dropout layers of ``model`` with ``p > 0``, in module order."""
    return [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0]


def deterministic_prefix(model: nn.Module) -> Tuple[nn.Module, nn.Module]:
    """Splits a probed model for MC passes: ``(prefix, stochastic_rest)`` with no dropout in ``prefix``.

    The prefix runs once per batch; only the rest is repeated per pass. That
    holds when every dropout layer is in the head or is the trunk's last layer
    (the classifiers, Unet); otherwise (dropout inside the trunk, e.g.
    DeepLabV3+'s ASPP) the prefix is empty and every pass runs the whole model.
    """
    trunk, head = model.trunk, model.head
    trunk_dropouts = active_dropouts(trunk)
    if not trunk_dropouts:
        return trunk, head
    if isinstance(trunk, nn.Sequential) and trunk_dropouts == [trunk[-1]]:
        return trunk[:-1], nn.Sequential(trunk[-1], head)
    return nn.Identity(), model


class PassMasks:
    """Per-pass dropout masks for every active dropout layer of a model, cached per step.

    A mask is already scaled by ``1 / (1 - p)``. Its shape is one sample's
    feature shape for ``nn.Dropout``, and ``[C, 1, ...]`` for the channel-wise
    ``nn.Dropout1d/2d/3d``; it broadcasts over the batch.

    Args:
        model: The model whose dropout layers are masked.
        seed: The step seed; pass ``t`` of layer ``i`` draws from
            ``derive_seed(seed, t, f"mc-dropout:{i}")``.
    """

    def __init__(self, model: nn.Module, seed: int):
        self.layers = active_dropouts(model)
        for layer in self.layers:
            if type(layer) not in SUPPORTED:
                raise InvalidValue(f"MC-Dropout supports {[c.__name__ for c in SUPPORTED]}, "
                                 f"not {type(layer).__name__}")
        self.seed = seed
        self._cache: Dict[tuple, torch.Tensor] = {}

    def mask(self, layer: int, pass_index: int, sample_shape: torch.Size, dtype: torch.dtype,
             device: torch.device) -> torch.Tensor:
        """The mask of dropout layer ``layer`` at pass ``pass_index`` for features of ``sample_shape``."""
        key = (layer, pass_index, tuple(sample_shape), dtype, str(device))
        if key not in self._cache:
            module = self.layers[layer]
            shape = tuple(sample_shape)
            if type(module) is not nn.Dropout:  # channel-wise: one draw per channel
                shape = shape[:1] + (1,) * (len(shape) - 1)
            generator = torch.Generator().manual_seed(derive_seed(self.seed, pass_index, f"mc-dropout:{layer}"))
            keep = torch.rand(shape, generator=generator, dtype=torch.float64) >= module.p
            self._cache[key] = (keep.to(dtype) / (1.0 - module.p)).to(device)
        return self._cache[key]

    def stacked(self, layer: int, num_passes: int, sample_shape: torch.Size, dtype: torch.dtype,
                device: torch.device) -> torch.Tensor:
        """Masks of passes ``0..num_passes-1`` stacked: ``[T, *mask_shape]``."""
        return torch.stack([self.mask(layer, t, sample_shape, dtype, device) for t in range(num_passes)])

    @contextmanager
    def applied(self, pass_index: int) -> Iterator[None]:
        """Within the block, every dropout layer multiplies its input by this pass's mask.

        The model must be in eval mode (its dropout layers then pass inputs through).
        """
        def hook(index):
            def apply(module, inputs, output):
                return output * self.mask(index, pass_index, output.shape[1:], output.dtype, output.device)
            return apply

        handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(self.layers)]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()


def foldable(rest: nn.Module, features: torch.Tensor) -> bool:
    """Whether ``rest`` is ``Dropout -> Linear`` on ``[B, D]`` features, so masks fold into the weights."""
    return (features.ndim == 2 and isinstance(rest, nn.Sequential) and len(rest) == 2
            and type(rest[0]) is nn.Dropout and isinstance(rest[1], nn.Linear))


def folded_linear_passes(linear: nn.Linear, features: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """All passes of ``linear(features * mask_t)`` at once.

    ``(z * m_t) W^T = z (W * m_t)^T``, so the T masked weight matrices are
    stacked into one ``[T * C, D]`` matrix and multiplied once.

    Args:
        linear: The layer after the dropout.
        features: ``[B, D]`` features entering the dropout layer.
        masks: ``[T, D]`` scaled masks.

    Returns:
        ``[T, B, C]`` logits.
    """
    num_passes, (num_classes, dim) = len(masks), linear.weight.shape
    weights = (linear.weight[None] * masks[:, None, :]).reshape(num_passes * num_classes, dim)
    bias = None if linear.bias is None else linear.bias.repeat(num_passes)
    logits = nn.functional.linear(features, weights, bias)  # [B, T * C]
    return logits.view(len(features), num_passes, num_classes).transpose(0, 1)


def leading_dropout(rest: nn.Module) -> bool:
    """Whether ``rest`` is a dropout layer followed by dropout-free layers, so passes can run as one batch."""
    return (isinstance(rest, nn.Sequential) and len(rest) > 1 and type(rest[0]) in SUPPORTED and rest[0].p > 0
            and not active_dropouts(rest[1:]))


def replicated_passes(tail: nn.Module, features: torch.Tensor, masks: torch.Tensor,
                      group: int) -> Iterator[torch.Tensor]:
    """Runs ``tail(features * mask_t)`` for all passes, ``group`` passes per batch.

    Args:
        tail: The layers after the dropout (in eval mode).
        features: ``[B, ...]`` features entering the dropout layer.
        masks: ``[T, *mask_shape]`` scaled masks, broadcasting over one sample's features.
        group: Passes run together; the batch is ``group * B`` samples.

    Yields:
        ``[G, B, ...]`` logits of each group of passes, in pass order.
    """
    batch = len(features)
    for start in range(0, len(masks), group):
        chunk = masks[start:start + group]
        replicated = (features.unsqueeze(0) * chunk.unsqueeze(1)).flatten(0, 1)  # [G * B, ...]
        logits = tail(replicated)
        yield logits.view(len(chunk), batch, *logits.shape[1:])


def _dropout_free_units(module: nn.Module, dropouts: set) -> List[nn.Module]:
    """The largest submodules of ``module`` that contain none of ``dropouts``."""
    if not any(m in dropouts for m in module.modules()):
        return [module]
    return list(itertools.chain.from_iterable(_dropout_free_units(c, dropouts) for c in module.children()))


def _tensors(value) -> List[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(itertools.chain.from_iterable(_tensors(v) for v in value))
    if isinstance(value, dict):
        return list(itertools.chain.from_iterable(_tensors(v) for v in value.values()))
    return []


@contextmanager
def memoised(model: nn.Module) -> Iterator[None]:
    """Within the block, dropout-free submodules called again with the very same inputs return their last output.

    An input counts as the same when it is the same tensor object, unmodified
    since (its in-place version counter unchanged), and so is the stored output;
    anything else runs the module. Meant for repeated eval-mode passes over
    one batch, where only what follows a dropout layer changes.
    """
    units = [m for m in _dropout_free_units(model, set(active_dropouts(model))) if m is not model]

    def remember(forward):
        stored = {}

        def call(*args, **kwargs):
            inputs = _tensors((args, kwargs))
            if stored and len(inputs) == len(stored["inputs"]) and all(
                    t is s and t._version == v for t, (s, v) in zip(inputs, stored["inputs"])) and all(
                    t._version == v for t, v in stored["outputs"]):
                return stored["value"]
            value = forward(*args, **kwargs)
            stored.update(inputs=[(t, t._version) for t in inputs], value=value,
                          outputs=[(t, t._version) for t in _tensors(value)])
            return value
        return call

    own = [unit.__dict__.get("forward") for unit in units]  # forwards set on instances, restored after
    for unit in units:
        unit.forward = remember(unit.forward)
    try:
        yield
    finally:
        for unit, forward in zip(units, own):
            if forward is None:
                del unit.forward
            else:
                unit.forward = forward

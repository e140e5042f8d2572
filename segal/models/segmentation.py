"""Segmentation networks from segmentation-models-pytorch with the paper's probe split.

The probe head holds the last two conv layers (with their norm and activation)
and everything after them; the trunk is the rest of the network. The split is
made by moving those modules out of the smp decoder into ``head`` (the decoder
keeps an ``nn.Identity`` in their place), so no layer is duplicated and the
computation is exactly the smp model's.

Per architecture:

* ``DeepLabV3Plus``: head = ``decoder.block2`` (separable 3x3 conv + BN + ReLU
  on the concatenated ASPP and high-resolution features) + ``segmentation_head``
  (1x1 conv to classes, x4 bilinear upsampling). Trunk output: ``[B, 304, H/4, W/4]``
  for the default 256 + 48 channels.
* ``Unet``: head = ``conv2`` (3x3 conv + BN + ReLU) and ``attention2`` of the
  last decoder block + ``segmentation_head`` (3x3 conv). Trunk output: the last
  block's ``conv1`` output, ``[B, 16, H, W]`` for the default decoder.
* ``FPN``: head = ``segmentation_head`` (3x3 conv, x4 upsampling) only. The
  conv layers before it sit in four parallel pyramid branches that are summed,
  so there is no single second-to-last conv on one path. Trunk output: the
  merged pyramid, ``[B, 128, H/4, W/4]``.

With ``dropout > 0`` a ``Dropout2d`` is put at the start of the head, i.e.
on the trunk features, for MC-Dropout and BALD.
"""
import inspect
from typing import Sequence

import segmentation_models_pytorch as smp
import torch
from torch import nn

from ..errors import InvalidValue
from ..registry import MODELS
from .probe import ProbedModel


def _take(parent: nn.Module, name: str) -> nn.Module:
    """Removes submodule ``name`` from ``parent`` (leaving an ``Identity``) and returns it."""
    module = getattr(parent, name)
    setattr(parent, name, nn.Identity())
    return module


def _split_deeplabv3plus(net) -> list:
    return [_take(net.decoder, "block2")]


def _split_unet(net) -> list:
    last = net.decoder.blocks[-1]
    return [_take(last, "conv2"), _take(last, "attention2")]


def _split_fpn(net) -> list:
    return []


SPLITS = {"DeepLabV3Plus": _split_deeplabv3plus, "Unet": _split_unet, "FPN": _split_fpn}


class SmpTrunk(nn.Module):
    """Encoder and (head-less) decoder of an smp model: ``[B, C, H, W] -> [B, D, h, w]``."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, divisor: int):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.divisor = divisor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        if height % self.divisor or width % self.divisor:
            raise InvalidValue(
                f"input size {height}x{width} must be divisible by {self.divisor} for this encoder; "
                f"resize or crop to a multiple of {self.divisor}"
            )
        return self.decoder(self.encoder(x))


@MODELS.register_module()
class SegmentationModel(ProbedModel):
    """An smp architecture split into trunk and the paper's probe head.

    Args:
        input_shape: ``(C, H, W)``; only ``C`` is used. Filled in from the dataset.
        num_classes: Number of classes; filled in from the dataset.
        arch: ``'DeepLabV3Plus'``, ``'Unet'`` or ``'FPN'``.
        encoder_name: Any smp encoder, e.g. ``'resnet18'``.
        encoder_weights: Pretrained encoder weights; ``None`` (the default)
            downloads nothing.
        dropout: Dropout probability on the trunk features (0 disables it).
        **arch_kwargs: Passed on to the smp architecture.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        arch: str = "DeepLabV3Plus",
        encoder_name: str = "resnet18",
        encoder_weights=None,
        dropout: float = 0.0,
        **arch_kwargs,
    ):
        super().__init__()
        if arch not in SPLITS:
            raise InvalidValue(f"model.arch {arch!r} has no probe split; choose one of {sorted(SPLITS)}")
        net = smp.create_model(
            arch, encoder_name=encoder_name, encoder_weights=encoder_weights, in_channels=input_shape[0],
            classes=num_classes, **arch_kwargs,
        )
        self.init_from(net, dropout)

    @classmethod
    def accepted_settings(cls, cfg: dict) -> set:
        """Config keys this model takes: its own arguments and those of the smp architecture ``cfg['arch']``."""
        own = set(inspect.signature(cls).parameters) - {"arch_kwargs"}
        arch = getattr(smp, cfg.get("arch", "DeepLabV3Plus"), None)
        smp_keys = set(inspect.signature(arch).parameters) - {"kwargs", "in_channels", "classes"} if arch else set()
        return own | smp_keys

    def init_from(self, net: nn.Module, dropout: float = 0.0) -> None:
        """Splits an smp model (in place) into ``trunk`` and ``head``."""
        arch = type(net).__name__
        tail = SPLITS[arch](net)
        divisor = 2 ** len(net.encoder.out_channels[1:]) if arch != "DeepLabV3Plus" else 16
        self.trunk = SmpTrunk(net.encoder, net.decoder, divisor)
        layers = ([nn.Dropout2d(dropout)] if dropout > 0 else []) + tail + [net.segmentation_head]
        self.head = nn.Sequential(*layers)

    @classmethod
    def from_smp(cls, net: nn.Module, dropout: float = 0.0) -> "SegmentationModel":
        """Wraps an existing smp model (its modules are moved, not copied)."""
        model = cls.__new__(cls)
        ProbedModel.__init__(model)
        model.init_from(net, dropout)
        return model

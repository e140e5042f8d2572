"""The probe split every segal model exposes."""
import torch
from torch import nn


class ProbedModel(nn.Module):
    """A model split as ``logits = head(trunk(x))``.

    ``head`` holds the layers that the paper's scorers update or differentiate
    (the last linear layer of a classifier, the last two conv layers of a
    segmentation network); ``trunk`` is everything before it. Scorers compute
    trunk features once per sample and then work on the head alone.

    Subclasses set ``self.trunk`` and ``self.head``.
    """

    trunk: nn.Module
    head: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))

    def head_parameters(self) -> dict:
        """The head's parameters by name, as ``torch.func.functional_call`` takes them."""
        return dict(self.head.named_parameters())

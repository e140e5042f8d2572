"""A model's outputs over a loader, and the losses taken from them; below both the scorers and the engine."""
from typing import Iterator, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from ..utils.device import to_device
from ..utils.precision import autocast


def loss_per_element(logits: torch.Tensor, target: torch.Tensor, ignore_index: Optional[int]) -> torch.Tensor:
    """Cross-entropy of each sample (``[B]``) or pixel (``[B, H, W]``); ignored pixels give 0."""
    ignore_index = -100 if ignore_index is None else ignore_index
    return F.cross_entropy(logits, target, reduction="none", ignore_index=ignore_index)


def mean_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: Optional[int]) -> torch.Tensor:
    """Mean cross-entropy over the counted elements of a batch."""
    return F.cross_entropy(logits, target, ignore_index=-100 if ignore_index is None else ignore_index)


@torch.no_grad()
def iterate_logits(model: nn.Module, loader: DataLoader, device: torch.device,
                   amp_dtype: Optional[torch.dtype] = None) -> Iterator[Tuple[dict, torch.Tensor]]:
    """Yields ``(batch, logits)`` for each batch of ``loader``, with the model in eval mode.

    With ``amp_dtype``, the forward pass runs under autocast (the logits are in that dtype).
    """
    model.eval()
    for batch in loader:
        batch = to_device(batch, device)
        with autocast(device, amp_dtype):
            logits = model(batch["inputs"])
        yield batch, logits

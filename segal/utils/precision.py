"""Numeric precision: mixed precision for training, full float32 for the small loss differences scorers rank by."""
from contextlib import contextmanager
from typing import Iterator, Optional

import torch

from ..errors import InvalidValue
from ..settings import AMP_MODES


def autocast_dtype(amp: Optional[str], device: torch.device) -> Optional[torch.dtype]:
    """The autocast dtype of ``train.amp``: ``'auto'`` is bfloat16 on CUDA and off elsewhere.

    Raises:
        ValueError: ``amp`` is not one of :data:`~segal.settings.AMP_MODES`.
    """
    if amp not in AMP_MODES:
        raise InvalidValue(f"train.amp must be one of {AMP_MODES}, got {amp!r}")
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {None: None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]


def autocast(device: torch.device, dtype: Optional[torch.dtype]):
    """``torch.autocast`` for ``dtype`` on ``device``'s type; a no-op context for ``None``."""
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


@contextmanager
def no_tf32() -> Iterator[None]:
    """Within the block, CUDA matmuls and cuDNN convolutions use full float32, not TF32.

    TF32 keeps ~3 significant digits, fewer than the holdout-loss changes of a
    few SGD steps need. The previous settings are restored on exit; on CPU
    this changes nothing.
    """
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn

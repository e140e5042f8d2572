"""Full float32 precision on CUDA for the small loss differences scorers rank by."""
from contextlib import contextmanager
from typing import Iterator

import torch


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

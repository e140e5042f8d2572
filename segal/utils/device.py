"""Device selection."""
import torch

from ..errors import InvalidValue


def resolve_device(device: str = "auto") -> torch.device:
    """Turns a config value into a ``torch.device``.

    Args:
        device: ``"auto"`` (CUDA when available, else CPU) or any string
            ``torch.device`` accepts, e.g. ``"cpu"`` or ``"cuda:1"``.

    Raises:
        ValueError: ``device`` is no device torch knows, or asks for CUDA on a machine without it.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise InvalidValue(f"device={device!r} is not a device; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InvalidValue(f"device={device!r} but CUDA is not available here; use 'auto' or 'cpu'")
    return resolved


def to_device(batch: dict, device: torch.device) -> dict:
    """Moves the tensors of a batch dict to ``device``."""
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}

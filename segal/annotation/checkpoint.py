"""Loading a trained checkpoint into the model a config describes, refusing one that does not fit."""
from pathlib import Path
from typing import List

import torch

from ..utils.io import load_torch_file


class CheckpointMismatch(ValueError):
    """A checkpoint was trained for other classes or another architecture than the config's."""


def load_checkpoint(path, model: torch.nn.Module, model_cfg: dict, classes: List[str], device) -> dict:
    """Loads ``path`` into ``model`` after checking it matches the config.

    Only tensors and plain containers are read (``weights_only=True``): a
    checkpoint cannot run code.

    Args:
        path: A checkpoint written by segal (``{'state_dict', 'meta'}``).
        model: The model built from ``model_cfg``.
        model_cfg: The config's ``model`` section.
        classes: The config's dataset classes.
        device: Where to map the tensors.

    Returns:
        The checkpoint's ``meta`` dict.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnreadableFileError: ``path`` is truncated, not a checkpoint, or holds objects other than tensors.
        CheckpointMismatch: its classes or model config differ from the config's; the message names both.
    """
    path = Path(path)
    model_cfg = model_cfg.to_dict() if hasattr(model_cfg, "to_dict") else dict(model_cfg)
    checkpoint = load_torch_file(path, device)
    if not isinstance(checkpoint.get("state_dict"), dict):
        raise CheckpointMismatch(f"{path} is not a segal checkpoint: it has no 'state_dict'")
    meta = checkpoint.get("meta", {})
    if meta.get("classes") is not None and list(meta["classes"]) != list(classes):
        raise CheckpointMismatch(f"checkpoint {path} has classes {meta['classes']}, the config's dataset has {list(classes)}")
    if meta.get("model") is not None and meta["model"] != model_cfg:
        raise CheckpointMismatch(f"checkpoint {path} was trained as model {meta['model']}, the config asks for {model_cfg}")
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        raise CheckpointMismatch(f"checkpoint {path} does not fit the config's model {model_cfg}: {err}") from err
    return meta

"""Loading a trained checkpoint into the model a config describes, refusing one that does not fit."""
from pathlib import Path
from typing import List

import torch

from ..engine.run_folder import recorded_checksum
from ..errors import SegalError
from ..models.checkpoints import load_weights, read_checkpoint


class CheckpointMismatch(SegalError, ValueError):
    """A checkpoint was trained for other classes or another architecture than the config's."""


def _class_difference(trained: List[str], configured: List[str]) -> str:
    """How a checkpoint's classes differ from the config's, in a bounded line."""
    first = next((i for i, (a, b) in enumerate(zip(trained, configured)) if a != b), min(len(trained), len(configured)))
    shown = [repr(names[first]) if first < len(names) else "nothing" for names in (trained, configured)]
    return (f"was trained for {len(trained)} classes, the config's dataset has {len(configured)}; class {first} is "
            f"{shown[0]} in the checkpoint and {shown[1]} in the config (dataset.classes must be the run's)")


def load_checkpoint(path, model: torch.nn.Module, model_cfg: dict, classes: List[str], device) -> dict:
    """Loads ``path`` into ``model`` after checking it matches the config.

    Only tensors and plain containers are read (``weights_only=True``): a
    checkpoint cannot run code. Its checksums are checked first
    (:func:`~segal.models.checkpoints.read_checkpoint`).

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
        ChecksumMismatch: ``path`` differs from the checksum its run recorded or the one stored in it.
        RunStateError: The state of the run holding it fails its checks.
        CheckpointMismatch: its classes or model config differ from the config's; the message names both.
        WeightsMismatch: its tensors do not fit the model; the message counts and shows what differs.
    """
    path = Path(path)
    model_cfg = model_cfg.to_dict() if hasattr(model_cfg, "to_dict") else dict(model_cfg)
    checkpoint = read_checkpoint(path, device, recorded_checksum(path) if path.is_file() else None)
    meta = checkpoint["meta"]
    if meta.get("classes") is not None and list(meta["classes"]) != list(classes):
        raise CheckpointMismatch(f"checkpoint {path} {_class_difference(list(meta['classes']), list(classes))}")
    if meta.get("model") is not None and meta["model"] != model_cfg:
        raise CheckpointMismatch(
            f"checkpoint {path} was trained as model {meta['model']}, the config asks for {model_cfg}")
    load_weights(model, checkpoint["state_dict"], path)
    return meta

"""Step checkpoints that check themselves: written with a digest of their weights, read only when they match.

A checkpoint is ``{'state_dict', 'meta'}``. Its ``meta`` carries the SHA-256
of its weights and of the rest of its ``meta``
(:func:`~segal.utils.checksums.content_digest`), and the run that wrote it
records the SHA-256 of the whole file in ``state.json``. A
reader checks whichever it knows; a checkpoint with neither (written by an
older segal or another tool) is loaded with a note.
"""
import logging
from pathlib import Path
from typing import Optional

from torch import nn

from ..errors import SegalError
from ..utils.checksums import content_digest
from ..utils.io import ChecksumMismatch, UnreadableFileError, atomic_save_torch, load_torch_file

logger = logging.getLogger("segal")

CONTENT_DIGEST = "content_sha256"


def _content(state_dict: dict, meta: dict) -> str:
    return content_digest({"state_dict": state_dict, "meta": {k: v for k, v in meta.items() if k != CONTENT_DIGEST}})


def save_checkpoint(path: Path, state_dict: dict, meta: dict) -> str:
    """Writes a checkpoint atomically, with the digest of its weights and meta in its ``meta``.

    The meta is written with its keys sorted at every level, so a run resumed
    from its ``config.json`` (whose settings come in another order than the
    config file's) writes the same bytes for the same weights.

    Returns:
        The SHA-256 of the file's bytes, for the run's ``state.json``.
    """
    meta = canonical_order(meta)
    return atomic_save_torch({"state_dict": state_dict, "meta": {**meta, CONTENT_DIGEST: _content(state_dict, meta)}},
                             path)


def canonical_order(value):
    """``value`` with the keys of every dict in it sorted (dicts keep insertion order, and so do their pickles)."""
    if isinstance(value, dict):
        return {key: canonical_order(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list):
        return [canonical_order(item) for item in value]
    return value


def verify_weights(checkpoint: dict, path: Path) -> bool:
    """Checks a loaded checkpoint's weights and meta against the digest in its ``meta``.

    Returns:
        Whether a digest was there to check.

    Raises:
        ChecksumMismatch: The contents differ from the digest.
    """
    meta = checkpoint.get("meta")
    digest = meta.get(CONTENT_DIGEST) if isinstance(meta, dict) else None
    if digest is None:
        return False
    if not isinstance(checkpoint.get("state_dict"), dict) or _content(checkpoint["state_dict"], meta) != digest:
        raise ChecksumMismatch(f"{path} is corrupt or was changed: its weights or meta differ from the checksum "
                               f"stored in it; segal does not use it")
    return True


def read_checkpoint(path, device="cpu", sha256: Optional[str] = None) -> dict:
    """Loads a segal checkpoint after checking what is known of it.

    Args:
        path: The checkpoint.
        device: Where to map its tensors.
        sha256: The file's recorded SHA-256, if one is known (a run records
            its checkpoints' in ``state.json``:
            :func:`~segal.engine.run_folder.recorded_checksum`).

    Returns:
        ``{'state_dict': ..., 'meta': {...}}``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ChecksumMismatch: The file or its weights differ from a recorded checksum.
        UnreadableFileError: It is truncated, not a segal checkpoint, or holds objects other than tensors.
    """
    path = Path(path)
    checkpoint = load_torch_file(path, device, sha256)
    if not isinstance(checkpoint.get("state_dict"), dict):
        raise UnreadableFileError(f"{path} is not a segal checkpoint: it has no 'state_dict'")
    if not isinstance(checkpoint.setdefault("meta", {}), dict):
        raise UnreadableFileError(f"{path} is not a segal checkpoint: its 'meta' is not a dict")
    if not verify_weights(checkpoint, path) and sha256 is None:
        logger.info("%s carries no checksum (an older segal or another tool wrote it); loaded unchecked", path)
    return checkpoint


class WeightsMismatch(SegalError, ValueError):
    """A checkpoint's tensors do not fit the model the config builds."""


def load_weights(model: nn.Module, state_dict: dict, path) -> None:
    """``model.load_state_dict(state_dict)``, refusing a mismatch with one line that counts and shows it.

    Raises:
        WeightsMismatch: Tensors are missing, unexpected, or of another shape;
            the message names the first of each and the file.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    reshaped = [k for k in expected if k in state_dict and tuple(state_dict[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or reshaped:
        parts = []
        if reshaped:
            key = reshaped[0]
            parts.append(f"{len(reshaped)} of another shape (e.g. {key}: {list(state_dict[key].shape)} in the file, "
                         f"{list(expected[key].shape)} in the model)")
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} the model does not have (e.g. {unexpected[0]})")
        raise WeightsMismatch(f"checkpoint {path} does not fit the config's model: of its tensors, "
                              f"{'; '.join(parts)}. Was it trained with another model or dataset config?")
    model.load_state_dict(state_dict)

"""SHA-256 digests of files and of saved contents, so that a corrupt file is noticed before it is used.

A file digest (:func:`file_sha256`) is what a run records for each checkpoint
in ``state.json``. A content digest (:func:`content_digest`) is stored inside
a saved payload (a checkpoint's weights, a cache inside a step) and recomputed
after loading, so the file checks itself wherever it is copied.
"""
import hashlib
import numbers
import sys
from pathlib import Path
from typing import Any

import numpy as np

_CHUNK = 1 << 20


def file_sha256(path) -> str:
    """The SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(Path(path), "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _feed(digest, obj: Any) -> None:
    torch = sys.modules.get("torch")  # a tensor exists only once torch is imported; importing it here costs seconds
    if torch is not None and isinstance(obj, torch.Tensor):
        flat = obj.detach().cpu().contiguous().reshape(-1)
        digest.update(f"tensor:{obj.dtype}:{tuple(obj.shape)}:".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    elif isinstance(obj, np.ndarray):
        digest.update(f"array:{obj.dtype.str}:{obj.shape}:".encode())
        digest.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, dict):
        digest.update(f"dict:{len(obj)}:".encode())
        for key, value in obj.items():
            _feed(digest, key)
            _feed(digest, value)
    elif isinstance(obj, (list, tuple)):
        digest.update(f"{type(obj).__name__}:{len(obj)}:".encode())
        for value in obj:
            _feed(digest, value)
    elif obj is None or isinstance(obj, (str, bytes, bool, numbers.Number)):
        digest.update(f"{type(obj).__name__}:{obj!r};".encode())
    else:
        raise TypeError(f"cannot digest a {type(obj).__name__}")


def content_digest(obj: Any) -> str:
    """A SHA-256 hex digest of nested dicts, lists, tuples, tensors, arrays and plain values.

    Tensors count with their dtype, shape and bytes; dict order counts.
    """
    digest = hashlib.sha256()
    _feed(digest, obj)
    return digest.hexdigest()

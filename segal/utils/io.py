"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Files get the permissions the umask gives any new file (``-rw-r--r--`` under the usual 022).
"""
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Union

import torch

PathLike = Union[str, os.PathLike]


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_write(path: PathLike, write: Callable[[str], None]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    # mkstemp creates the file private (0600); give it the mode a plain open() would, as the umask says.
    os.fchmod(fd, 0o666 & ~_current_umask())
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path: PathLike, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file and a rename."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    _atomic_write(path, write)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a temporary file and a rename."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    _atomic_write(path, write)


def atomic_save_torch(obj: Any, path: PathLike) -> None:
    """``torch.save`` through a temporary file and a rename."""
    _atomic_write(path, lambda tmp: torch.save(obj, tmp))


def read_json(path: PathLike) -> Any:
    """Reads a JSON file, naming the file when it cannot be parsed."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err

"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Files get the permissions the umask gives any new file (``-rw-r--r--`` under the usual 022).
"""
import errno
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional, Union

from ..errors import SegalError
from .checksums import file_sha256

PathLike = Union[str, os.PathLike]


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class DiskFullError(SegalError, OSError):
    """The disk (or the user's quota) had no room for a file segal was writing; the old file is untouched."""


_FULL = (errno.ENOSPC, errno.EDQUOT)


def _disk_full(path: Path) -> DiskFullError:
    return DiskFullError(errno.ENOSPC, f"disk full: no space left to write {path} (the previous version, if any, "
                                       f"is kept); free space on that disk and run the command again")


def _atomic_write(path: PathLike, write: Callable[[str], None]) -> None:
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        # mkstemp creates the file private (0600); give it the mode a plain open() would, as the umask says.
        os.fchmod(fd, 0o666 & ~_current_umask())
        os.close(fd)
        write(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(err, OSError) and err.errno in _FULL:
            raise _disk_full(path) from None
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


def atomic_save_torch(obj: Any, path: PathLike) -> str:
    """``torch.save`` through a temporary file and a rename.

    The file is serialised in memory and written with plain file writes, so a
    full disk is reported as such (:class:`DiskFullError`, naming ``path``).

    Returns:
        The SHA-256 hex digest of the bytes written.
    """
    buffer = io.BytesIO()
    import torch  # here, not at the top: the config tools read and write JSON through this module at start-up

    torch.save(obj, buffer)
    data = buffer.getbuffer()
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


class UnreadableFileError(SegalError, ValueError):
    """A file segal reads is truncated, of another kind, or holds what segal refuses to load."""


class ChecksumMismatch(UnreadableFileError):
    """A file's bytes or contents differ from the SHA-256 recorded for them: it is corrupt or was changed."""


def load_torch_file(path: PathLike, device="cpu", sha256: Optional[str] = None) -> dict:
    """``torch.load`` of a file segal wrote, with ``weights_only=True``: tensors and plain containers only.

    A file that holds other objects could run code when unpickled; it is
    refused, and so is a truncated or foreign file, each with one line naming it.

    Args:
        path: The file.
        device: Where to map tensors.
        sha256: The digest recorded for the file's bytes; checked before anything is unpickled.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ChecksumMismatch: The file's SHA-256 is not ``sha256``.
        UnreadableFileError: ``path`` is not a complete checkpoint of tensors and plain data.
    """
    import pickle

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    with open(path, "rb") as f:
        head = f.read(4)
    if not head.startswith((b"PK\x03\x04", b"\x80")):  # torch's zip format, or its older pickle format
        kind = "text" if head and all(32 <= c < 127 or c in b"\t\r\n" for c in head) else "some other file"
        raise UnreadableFileError(f"{path} is not a checkpoint: it holds {kind}, not a file torch.save wrote")
    if sha256 is not None and file_sha256(path) != sha256:
        raise ChecksumMismatch(f"{path} is corrupt or was changed: its SHA-256 differs from the one its run "
                               f"recorded in state.json; segal does not use it")
    try:
        import torch

        loaded = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise UnreadableFileError(
            f"{path} holds objects other than tensors and plain data; segal does not load it, since unpickling "
            f"it could run code. Use a checkpoint written by segal"
        ) from None
    except Exception as err:  # a damaged archive fails in many ways (IndexError, KeyError, RuntimeError, ...)
        raise UnreadableFileError(f"{path} is truncated, corrupt or not a torch checkpoint ({type(err).__name__}: "
                                  f"{str(err).splitlines()[0] if str(err) else 'no detail'})") from None
    if not isinstance(loaded, dict):
        raise UnreadableFileError(f"{path} is not a segal checkpoint: it holds a {type(loaded).__name__}, not a dict")
    return loaded


def remove_stale_temp_files(folder: PathLike) -> list:
    """Removes the temporary files that interrupted atomic writes left in ``folder`` and its subfolders.

    Call it only while holding the folder's lock: a live writer's temporary file looks the same.

    Returns:
        The removed paths.
    """
    removed = []
    for path in Path(folder).rglob(".*.tmp"):
        if path.is_file():
            path.unlink()
            removed.append(path)
    return removed


def check_regular_file(path: PathLike, what: str = "file") -> Path:
    """``path``, after checking it is a regular file (a FIFO or a device would block or never end a read).

    Raises:
        FileNotFoundError: Nothing is there.
        UnreadableFileError: Something other than a regular file is there.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    if not path.is_file():
        raise UnreadableFileError(f"{path} is not a regular file; give the {what} itself")
    return path


def read_json(path: PathLike, what: str = "valid JSON") -> Any:
    """Reads a JSON file, naming the file (and ``what`` it should be) when it cannot be parsed.

    Raises:
        FileNotFoundError: The file is missing.
        UnreadableFileError: It is not a regular file, not JSON, or nested too deeply to parse.
    """
    check_regular_file(path, what)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UnreadableFileError(f"{path} is not {what}: {err}") from None
    except RecursionError:
        raise UnreadableFileError(f"{path} is not {what}: it is nested too deeply to read") from None

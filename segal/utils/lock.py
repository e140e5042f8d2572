"""One writer per work dir: an advisory lock that the kernel releases when its holder dies."""
import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import SegalError


class WorkDirLocked(SegalError, RuntimeError):
    """Another segal process is writing to the work dir."""


@contextmanager
def work_dir_lock(path: Path, holder: str) -> Iterator[None]:
    """Holds the lock file ``path`` of a work dir while the block runs; refuses at once if another process holds it.

    The lock is ``flock``-based: a killed process does not leave it stuck. The
    file records the holder's pid and what it is doing, for the refusal message.

    Args:
        path: The lock file (``RunFolder.lock_path``); its folder is created if missing.
        holder: What the process does there, e.g. ``'tools/train.py'``.

    Raises:
        WorkDirLocked: Another process holds the lock; the message names its pid.
    """
    path = Path(path)
    work_dir = path.parent
    work_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held_by = os.pread(fd, 256, 0).decode(errors="replace").strip() or "unknown"
            raise WorkDirLocked(
                f"{work_dir} is in use by another segal process (pid {held_by}); wait for it to end, "
                f"or use another --work-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {holder}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

"""One writer per work dir: an advisory lock that the kernel releases when its holder dies."""
import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import SegalError

LOCK_NAME = ".lock"


class WorkDirLocked(SegalError, RuntimeError):
    """Another segal process is writing to the work dir."""


@contextmanager
def work_dir_lock(work_dir: Path, holder: str) -> Iterator[None]:
    """Holds ``work_dir/.lock`` while the block runs; refuses at once if another process holds it.

    The lock is ``flock``-based: a killed process does not leave it stuck. The
    file records the holder's pid and what it is doing, for the refusal message.

    Args:
        work_dir: The run folder (created if missing).
        holder: What the process does there, e.g. ``'tools/train.py'``.

    Raises:
        WorkDirLocked: Another process holds the lock; the message names its pid.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / LOCK_NAME
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

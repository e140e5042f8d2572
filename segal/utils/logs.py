"""segal's log: console lines for a person, and a log file in every work dir."""
import logging
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOGGER_NAME = "segal"
FORMAT = "%(asctime)s %(levelname)s %(message)s"


class HideFileOnlyLines(logging.Filter):
    """Keeps off the console the log lines meant for the log file alone.

    A record logged with ``extra={'file_only': True}`` (a training epoch while
    its bar shows it, or while progress is off) still goes to the log file.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False)


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a line is logged (it may be replaced after setup, e.g. by a test)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        """The stream is always the current ``sys.stderr``."""


def setup_console_logging(verbose: bool = False) -> None:
    """Sends segal's messages to stderr, one timestamped line each."""
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter(FORMAT, "%H:%M:%S"))
    handler.addFilter(HideFileOnlyLines())
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers[:] = [h for h in logger.handlers if isinstance(h, logging.FileHandler)] + [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


@contextmanager
def log_file(work_dir: Path) -> Iterator[Path]:
    """Copies segal's log lines into ``work_dir/<YYYYmmdd_HHMMSS>.log`` while the block runs.

    The file gets every line the console gets plus the file-only ones (one
    per training epoch, which the console shows only as progress).
    """
    work_dir = Path(work_dir)
    path = work_dir / f"{time.strftime('%Y%m%d_%H%M%S')}.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT, "%Y-%m-%d %H:%M:%S"))
    logger = logging.getLogger(LOGGER_NAME)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield path
    finally:
        logger.removeHandler(handler)
        handler.close()

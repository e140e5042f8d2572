"""Progress that a person can follow: a bar on a terminal, periodic log lines elsewhere."""
import logging
import sys
import time
from typing import Optional

from tqdm import tqdm

logger = logging.getLogger("segal")

#: Seconds between progress log lines when stderr is not a terminal.
LOG_INTERVAL = 30.0


def stderr_is_terminal() -> bool:
    """Whether progress bars can be drawn (stderr is an interactive terminal)."""
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


def format_seconds(seconds: float) -> str:
    """``75.3 -> '1m15s'``, ``4.2 -> '4.2s'``, ``0.012 -> '0.01s'``."""
    if seconds < 1:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """Counts work done; draws a bar on a terminal and logs a line every ``interval`` seconds otherwise.

    Args:
        total: Units of work expected (may change, see :meth:`set_total`).
        desc: What is being done, e.g. ``'score HoldoutLossChange'``.
        unit: Name of one unit, e.g. ``'img'``.
        enabled: ``False`` shows nothing at all.
        interval: Seconds between log lines when stderr is not a terminal.
        initial: Units already done before this process started (a resumed stage).
    """

    def __init__(self, total: Optional[int], desc: str, unit: str = "it", enabled: bool = True,
                 interval: float = LOG_INTERVAL, initial: int = 0):
        self.total, self.desc, self.unit = total, desc, unit
        self.done = self.initial = initial
        self.started = self._last_line = time.perf_counter()
        self.interval = interval
        self.enabled = enabled
        self.bar = (tqdm(total=total, desc=desc, unit=unit, leave=False, initial=initial)
                    if enabled and stderr_is_terminal() else None)

    @property
    def shows_bar(self) -> bool:
        """Whether a terminal bar is drawn (log lines that repeat it can stay off the console)."""
        return self.bar is not None

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def set_total(self, total: int) -> None:
        """Changes the expected amount of work, e.g. when early stopping moves its horizon."""
        self.total = total
        if self.bar is not None:
            self.bar.total = total
            self.bar.refresh()

    def update(self, n: int = 1, postfix: Optional[str] = None) -> None:
        """Records ``n`` more units done; ``postfix`` is shown after the bar."""
        self.done += n
        if self.bar is not None:
            if postfix is not None:
                self.bar.set_postfix_str(postfix, refresh=False)
            self.bar.update(n)
        elif self.enabled and time.perf_counter() - self._last_line >= self.interval:
            self._last_line = time.perf_counter()
            logger.info("%s: %s", self.desc, self.status())

    def status(self) -> str:
        """``'40/96 img (42%), 3.3 img/s, about 17.0s left'``."""
        rate = (self.done - self.initial) / max(self.elapsed, 1e-9)
        if not self.total:
            return f"{self.done} {self.unit}, {rate:.3g} {self.unit}/s"
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = format_seconds(left) if left != float("inf") else "?"
        return (f"{self.done}/{self.total} {self.unit} ({self.done / self.total:.0%}), "
                f"{rate:.3g} {self.unit}/s, about {eta} left")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

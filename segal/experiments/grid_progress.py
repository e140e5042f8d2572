"""Progress of a grid: one line per finished or failed run, with an estimate of the time left."""
import time
from typing import List


class GridProgress:
    """Prints one line per finished or failed run, with the time elapsed and an estimate of the time left.

    Args:
        total: Runs in the grid.
        already: Runs finished before this invocation.
    """

    def __init__(self, total: int, already: int):
        self.total, self.already, self.done = total, already, already
        self.failures: List = []  # the failed runs' outcomes
        self.started = time.perf_counter()

    def __call__(self, outcome) -> None:
        """Reports one run's outcome (:class:`~segal.experiments.grid.RunOutcome`)."""
        from ..utils.progress import format_seconds

        if outcome.status == "failed":
            self.failures.append(outcome)
            print(f"  failed {outcome.run.label}: {outcome.error}", flush=True)
            return
        self.done += 1
        elapsed = time.perf_counter() - self.started
        left = elapsed / (self.done - self.already) * (self.total - self.done - len(self.failures))
        print(f"  [{self.done}/{self.total}] {outcome.run.label}: final {outcome.final:.4f} in {outcome.seconds:.0f}s "
              f"(elapsed {format_seconds(elapsed)}, about {format_seconds(left)} left)", flush=True)

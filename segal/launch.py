"""torchrun for segal's tools: the same launcher, ending a failed run with one line instead of its traceback.

``python -m segal.launch [torchrun options] SCRIPT [script options]`` takes exactly torchrun's arguments
(``tools/dist_train.sh`` and ``tools/dist_test.sh`` use it). When a process fails, each rank has already printed
its own message (rank 0 alone for an input error, see :func:`segal.cli.exit_on_error`); torchrun would then add
its bookkeeping log lines and a 40-line ``ChildFailedError`` traceback. Here it adds one line that says which rank
failed first and how, and exits with that rank's status.
"""
from __future__ import annotations

import logging
import signal
import sys

#: torchrun's per-process bookkeeping ("Sending process ... closing signal", "failed (exitcode: 1) local_rank: ...").
#: The summary line says the same once; the rendezvous and agent loggers keep their warnings.
_PROCESS_LOGGER = "torch.distributed.elastic.multiprocessing.api"


def describe_failure(failures: dict) -> str:
    """One line about the processes that failed.

    Args:
        failures: ``{global rank: ProcessFailure}`` as torchrun's ``ChildFailedError.failures`` holds them; each
            failure has ``exitcode`` (negative: killed by that signal) and ``timestamp``.

    Returns:
        ``"rank R failed first (exit code C); ..."`` naming the ranks that were stopped after it.
    """
    first = first_failure(failures)
    how = _how(failures[first].exitcode)
    others = sorted(rank for rank in failures if rank != first)
    line = f"rank {first} failed first ({how})"
    if others:
        line += f"; rank{'s' if len(others) > 1 else ''} {', '.join(map(str, others))} stopped after it"
    return line + ". Each rank's own message is above; add --debug for tracebacks."


def first_failure(failures: dict) -> int:
    """The global rank whose failure torchrun observed first."""
    return min(failures, key=lambda rank: failures[rank].timestamp)


def _how(exitcode: int) -> str:
    if exitcode >= 0:
        return f"exit code {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = f"signal {-exitcode}"
    hint = ", often out of memory" if name == "SIGKILL" else ""
    return f"killed by {name}{hint}"


def main(argv: list[str] | None = None) -> int:
    """Runs torchrun on ``argv`` (default: the command line); returns the exit status."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    logging.getLogger(_PROCESS_LOGGER).setLevel(logging.CRITICAL)
    try:
        run(parse_args(argv))
    except ChildFailedError as err:
        failures = err.failures
        sys.stderr.write(f"torchrun: {describe_failure(failures)}\n")
        return max(failures[first_failure(failures)].exitcode, 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

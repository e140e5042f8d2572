"""Worker processes for a grid: each runs many tasks, its death is noticed at once, and it dies with the grid.

``multiprocessing.Pool`` waits forever for the result of a worker that the
out-of-memory killer took. Here every worker has its own pipe, and the parent
waits on the pipes and on the processes' sentinels together: a worker that
dies mid-task is seen within ``poll_seconds``, its task is reported as failed
and a fresh worker takes its place. Each worker watches its parent and exits
when the parent is gone, so killing a grid leaves no orphans.
"""
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from multiprocessing.connection import wait
from typing import Any, Callable, Iterable, Optional

#: How often a worker checks that its parent is alive.
PARENT_CHECK_SECONDS = 0.5


def _exit_when_orphaned(parent: int) -> None:
    while True:
        time.sleep(PARENT_CHECK_SECONDS)
        if os.getppid() != parent:
            os._exit(1)  # the grid is gone: stop at once, as a kill would (runs resume from their saved state)


def _serve(conn, parent: int, initializer: Optional[Callable[..., None]], initargs: tuple,
           task: Callable[[Any], Any]) -> None:
    """A worker's life: run each task sent down ``conn`` and send back its result, until ``None`` or EOF."""
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the grid's to handle; it then stops the workers
    if initializer is not None:
        initializer(*initargs)
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):
            return
        if item is None:
            return
        conn.send(task(item))


def death_description(exitcode: Optional[int]) -> str:
    """``'killed by SIGKILL (...)'`` or ``'exit status 3'`` for a process's exit code."""
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (the out-of-memory killer sends it when the machine runs out of memory)" if name == "SIGKILL" else ""
        return f"killed by {name}{hint}"
    return f"exit status {exitcode}"


class _Worker:
    def __init__(self, context, initializer, initargs, task):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, os.getpid(), initializer, initargs, task),
                                       daemon=True)
        self.process.start()
        child.close()
        self.item = None

    def assign(self, item: Any) -> None:
        """Sends the worker its next item."""
        self.item = item
        self.conn.send(item)

    def stop(self, timeout: float) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def run_in_workers(
    items: Iterable[Any],
    task: Callable[[Any], Any],
    workers: int,
    on_result: Callable[[Any, Any], None],
    on_death: Callable[[Any, str], None],
    initializer: Optional[Callable[..., None]] = None,
    initargs: tuple = (),
    poll_seconds: float = 1.0,
) -> None:
    """Runs ``task(item)`` for every item in ``workers`` spawned processes.

    Args:
        items: The tasks' arguments (picklable).
        task: A picklable function (module level); an exception it raises kills its worker, so it should catch its own.
        workers: Processes at most; each runs many items.
        on_result: Called with ``(item, result)`` as each item ends.
        on_death: Called with ``(item, description)`` when a worker dies while running ``item``.
        initializer: Run once in each worker before its first item.
        initargs: Its arguments.
        poll_seconds: The longest wait between checks of the workers.
    """
    queue = deque(items)
    context = multiprocessing.get_context("spawn")
    busy = []
    try:
        for _ in range(min(workers, len(queue))):
            busy.append(_Worker(context, initializer, initargs, task))
            busy[-1].assign(queue.popleft())
        while busy:
            wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=poll_seconds)
            for worker in list(busy):
                result, died = _collect(worker)
                if result is None and not died:
                    continue
                if died:
                    _reap(worker, on_death)
                    busy.remove(worker)
                    if queue:
                        busy.append(_Worker(context, initializer, initargs, task))
                        worker = busy[-1]
                else:
                    on_result(worker.item, result[0])
                if queue:
                    worker.assign(queue.popleft())
                elif worker in busy:
                    busy.remove(worker)
                    worker.stop(timeout=10)
    finally:
        for worker in busy:
            worker.process.kill()
            worker.process.join()


def _reap(worker: _Worker, on_death: Callable[[Any, str], None]) -> None:
    """Waits for a dead worker's exit status (killing it if its pipe broke while it lives) and reports its item."""
    worker.process.join(timeout=10)  # its pipe can close before its exit status is known
    if worker.process.is_alive():
        worker.process.kill()
        worker.process.join()
    on_death(worker.item, death_description(worker.process.exitcode))
    worker.conn.close()


def _collect(worker: _Worker):
    """``((result,), False)`` when the worker answered, ``(None, True)`` when it died, else ``(None, False)``."""
    try:
        if worker.conn.poll():
            return (worker.conn.recv(),), False
    except (EOFError, OSError):
        return None, True
    if not worker.process.is_alive():
        return None, True
    return None, False

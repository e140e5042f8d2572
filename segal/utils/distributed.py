"""torch.distributed plumbing: the process group torchrun describes, shards of global ids, and collectives.

Every function here works unchanged in a single process (no process group):
the shard is everything, gathers return their input, reductions are no-ops.
Under ``torchrun ... --launcher pytorch`` each rank:

* scores and evaluates :func:`shard` of the ids, a deterministic contiguous
  slice of them in the order given;
* puts its results back in that order with :func:`gather_rows` or
  :func:`gather_arrays` (rank order is id order);
* sums confusion matrices and loss sums with :func:`all_reduce_sum`;
* leaves decisions that must be identical everywhere (early stopping, joint
  selections) to rank 0 and takes them with :func:`broadcast_from_main`.

Every collective waits at most ``dist.timeout`` seconds, so a rank that dies
stops the others with an error instead of a hang.
"""
import datetime
import logging
import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Sequence, Tuple

import numpy as np
import torch
import torch.distributed as dist

from ..errors import InvalidValue
from ..settings import DistSettings
from .device import resolve_device

logger = logging.getLogger("segal")

LAUNCHERS = ("none", "pytorch")
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def is_distributed() -> bool:
    """Whether a process group with more than one rank is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank_and_world() -> Tuple[int, int]:
    """``(rank, world size)``; ``(0, 1)`` in a single process."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Whether this process is rank 0, the one that writes run files and shows progress."""
    return rank_and_world()[0] == 0


def init_distributed(launcher: str, device: torch.device, settings: DistSettings) -> torch.device:
    """Joins the process group torchrun describes and returns this rank's device.

    Args:
        launcher: ``'none'`` (a single process: nothing happens) or ``'pytorch'``
            (torchrun set ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``
            and ``MASTER_PORT``).
        device: The configured device; a CUDA device becomes ``cuda:LOCAL_RANK``.
        settings: The ``dist`` config.

    Raises:
        ValueError: An unknown launcher, or ``'pytorch'`` outside torchrun.
    """
    if launcher not in LAUNCHERS:
        raise InvalidValue(f"--launcher must be one of {LAUNCHERS}, got {launcher!r}")
    if launcher == "none":
        return device
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise InvalidValue(f"--launcher pytorch needs the environment torchrun sets ({', '.join(missing)} missing); "
                         f"start it with tools/dist_train.sh CONFIG NPROC or torchrun --nproc_per_node=N")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    backend = settings.backend or ("nccl" if device.type == "cuda" else "gloo")
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=settings.timeout),
                            device_id=device if backend == "nccl" else None)
    rank, world = rank_and_world()
    logger.info("rank %d of %d on %s (%s backend, collectives time out after %gs)", rank, world, device, backend,
                settings.timeout)
    return device


def shutdown() -> None:
    """Leaves the process group, if any."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def launched(launcher: str, cfg) -> Iterator[None]:
    """Within the block, this process is a rank of the group torchrun started (``launcher='pytorch'``).

    Ranks other than 0 log warnings and errors only. With ``launcher='none'``
    nothing changes.

    Args:
        launcher: ``'none'`` or ``'pytorch'``.
        cfg: The config: its ``device`` and ``dist`` sections.
    """
    if launcher == "none":
        yield
        return
    settings = DistSettings(**dict(cfg.get("dist", {})))
    init_distributed(launcher, resolve_device(cfg.get("device", "auto")), settings)
    if not is_main():
        logging.getLogger("segal").setLevel(logging.WARNING)
    try:
        yield
    finally:
        shutdown()


def rank_device(device: torch.device) -> torch.device:
    """This rank's device: ``cuda:LOCAL_RANK`` for a CUDA device under torchrun, else ``device``."""
    if device.type == "cuda" and is_distributed():
        return torch.device("cuda", torch.cuda.current_device())
    return device


def shard(ids: Sequence[int]) -> np.ndarray:
    """This rank's contiguous slice of ``ids`` (in their order); all of them in a single process.

    The slices of ranks ``0..W-1`` concatenated give ``ids`` back, so results
    gathered in rank order are in the order of ``ids``.
    """
    rank, world = rank_and_world()
    return np.array_split(np.asarray(ids, dtype=np.int64), world)[rank]


def _communication_device(tensor: torch.Tensor) -> torch.device:
    """nccl moves CUDA tensors only; gloo moves CPU tensors."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def gather_rows(local: torch.Tensor) -> torch.Tensor:
    """Concatenates every rank's ``[n_r, ...]`` tensor in rank order, on every rank: ``[sum n_r, ...]``.

    The ranks' row counts may differ; the trailing shape and dtype must not.
    Returned on ``local``'s device.
    """
    if not is_distributed():
        return local
    device = _communication_device(local)
    counts = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(dist.get_world_size())]
    dist.all_gather(counts, torch.tensor([len(local)], dtype=torch.int64, device=device))
    counts = [int(c) for c in counts]
    padded = torch.zeros((max(counts), *local.shape[1:]), dtype=local.dtype, device=device)
    padded[: len(local)] = local.to(device)
    parts = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(parts, padded)
    return torch.cat([part[:count] for part, count in zip(parts, counts)]).to(local.device)


def gather_arrays(local: np.ndarray) -> np.ndarray:
    """:func:`gather_rows` for numpy arrays."""
    if not is_distributed():
        return local
    return gather_rows(torch.from_numpy(np.ascontiguousarray(local))).numpy()


def all_reduce_sum(values: np.ndarray) -> np.ndarray:
    """The element-wise sum of ``values`` over ranks (int64 stays exact), on every rank."""
    if not is_distributed():
        return values
    tensor = torch.from_numpy(np.array(values, copy=True))
    moved = tensor.to(_communication_device(tensor))
    dist.all_reduce(moved, op=dist.ReduceOp.SUM)
    return moved.cpu().numpy()


def broadcast_from_main(value: Any) -> Any:
    """Rank 0's ``value`` (any picklable object), on every rank."""
    if not is_distributed():
        return value
    box: List[Any] = [value]
    dist.broadcast_object_list(box, src=0, device=_communication_device(torch.empty(0)))
    return box[0]


def run_on_main(compute: Callable[[], Any]) -> Any:
    """Runs ``compute`` on rank 0 only and returns its result on every rank."""
    return broadcast_from_main(compute() if is_main() else None)


def barrier() -> None:
    """Waits until every rank gets here (at most ``dist.timeout``)."""
    if is_distributed():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()

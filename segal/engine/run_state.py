"""A run's ``state.json`` and step records: one schema, checked wherever they are read.

``state.json`` is the commit point of a run: what was labelled at which step
(the pool), one record per finished step, the SHA-256 of each kept
checkpoint, and a digest of all of it. A state or a record that fails a
check is refused with one line naming the file and the first broken field;
nothing reads a field it has not checked.
"""
import hashlib
import json
import math
import numbers
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np

from ..data.pool import ActivePool, PoolError
from ..data.region_pool import RegionLabels
from ..errors import InvalidValue, SegalError
from ..run_mode import RunMode
from ..utils.io import ChecksumMismatch, atomic_write_text, read_json
from ..utils.run_paths import RunPaths

STATE_FORMAT = 1
METRICS = ("accuracy", "mIoU")


class RunStateError(SegalError, RuntimeError):
    """The work dir's saved state does not allow the requested start or resume, or fails its checks."""


STATE_KEYS = {"format": int, "seed": int, "completed_step": int, "checkpoint": str, "protocol": dict, "pool": dict,
              "records": list}


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_fraction(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 1


def _id_list(value, where: str, num_ids: Optional[int]) -> np.ndarray:
    """Checks a list of unique sample ids in ``[0, num_ids)``."""
    if not isinstance(value, list) or not all(_is_int(i) for i in value):
        raise RunStateError(f"{where} must be a list of integer ids, got {str(value)[:80]}")
    ids = np.asarray(value, dtype=np.int64)
    bad = ids[(ids < 0) | (ids >= (num_ids if num_ids is not None else np.iinfo(np.int64).max))]
    if len(bad):
        raise RunStateError(f"{where} holds ids out of range [0, {num_ids}): {bad[:5].tolist()}")
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise RunStateError(f"{where} holds ids more than once: {unique[counts > 1][:5].tolist()}")
    return ids


def check_records(records, where: str, num_ids: Optional[int] = None) -> List[dict]:
    """Checks step records (``state.json``'s ``records`` or ``metrics.jsonl``): one per step from 0, in order.

    Each record is an object with ``step`` equal to its position, an integer
    ``n_labelled``, a test metric (``accuracy`` or ``mIoU``) in [0, 1], a
    ``mistake_rate`` in [0, 1] or null, and ``selected_ids`` (and, where
    present, ``pseudo_ids`` and ``holdout_added_ids``) as unique ids in
    ``[0, num_ids)``.

    Args:
        records: The parsed records.
        where: How to name them in a message, e.g. ``run/state.json: records``.
        num_ids: The dataset's size, when known.

    Returns:
        ``records``, checked.

    Raises:
        RunStateError: Naming ``where``, the record and the field.
    """
    if not isinstance(records, list):
        raise RunStateError(f"{where} must be a list of step records, got {type(records).__name__}")
    metric = None
    for position, record in enumerate(records):
        at = f"{where}[{position}]"
        if not isinstance(record, dict):
            raise RunStateError(f"{at} must be an object, got {type(record).__name__}")
        if record.get("step") != position or not _is_int(record.get("step")):
            raise RunStateError(f"{at}.step must be {position} (records are one per step, in order), "
                                f"got {record.get('step')!r}")
        if not _is_int(record.get("n_labelled")) or record["n_labelled"] < 0:
            raise RunStateError(f"{at}.n_labelled must be an integer >= 0, got {record.get('n_labelled')!r}")
        present = [name for name in METRICS if name in record]
        if len(present) != 1 or (metric is not None and present[0] != metric):
            raise RunStateError(f"{at} must hold one test metric, {' or '.join(METRICS)}"
                                + (f" (as the records before it: {metric})" if metric else ""))
        metric = present[0]
        if not _is_fraction(record[metric]):
            raise RunStateError(f"{at}.{metric} must be a number in [0, 1], got {record[metric]!r}")
        if record.get("mistake_rate") is not None and not _is_fraction(record["mistake_rate"]):
            raise RunStateError(f"{at}.mistake_rate must be null or a number in [0, 1], got {record['mistake_rate']!r}")
        _id_list(record.get("selected_ids"), f"{at}.selected_ids", num_ids)
        for optional in ("pseudo_ids", "holdout_added_ids"):
            if optional in record:
                _id_list(record[optional], f"{at}.{optional}", num_ids)
        if "pool_mistakes" in record and not (_is_int(record["pool_mistakes"]) and record["pool_mistakes"] >= 0):
            raise RunStateError(f"{at}.pool_mistakes must be an integer >= 0, got {record['pool_mistakes']!r}")
        if position and record["n_labelled"] < records[position - 1]["n_labelled"]:
            raise RunStateError(f"{at}.n_labelled is {record['n_labelled']}, below the step before "
                                f"({records[position - 1]['n_labelled']})")
    return records


def _check_checksums(state: dict, path: Path) -> None:
    sums = state.get("checkpoints", {})
    if not isinstance(sums, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and len(v) == 64 for k, v in sums.items()):
        raise RunStateError(f"{path}: 'checkpoints' must map checkpoint paths to SHA-256 hex digests")
    if "checkpoints" in state and state["checkpoint"] not in sums:
        raise RunStateError(f"{path}: 'checkpoints' has no checksum for the latest checkpoint {state['checkpoint']!r}")


def _check_against_pool(state: dict, pool: ActivePool, path: Path) -> None:
    """The records tell the same history as the pool: who was labelled at which step, and how many."""
    records, last = state["records"], state["completed_step"]
    if len(records) != last + 1:
        raise RunStateError(f"{path}: 'records' has {len(records)} steps, but completed_step is {last} "
                            f"(expected {last + 1}); the file is cut short or edited")
    if pool.last_step > last + 1:
        raise RunStateError(f"{path}: 'pool' labels ids at step {pool.last_step}, after the next step {last + 1}")
    simulated = RunMode.of_state(state).selects_in_loop
    regions = restored_regions(state, pool, path) if "regions" in state else None
    labelled_at = np.bincount(pool.labelled_step(np.arange(len(pool))) + 1, minlength=last + 3)  # [0]: unlabelled
    for step, record in enumerate(records):
        chosen = set(record["selected_ids"])
        expected = pool.labelled_ids(step + 1) if regions is None else regions.images(step + 1)
        if chosen != set(expected.tolist()):
            raise RunStateError(f"{path}: records[{step}].selected_ids are not the ids 'pool' labels at step "
                                f"{step + 1} ({len(chosen)} against {len(expected)})")
        labelled = int(labelled_at[1: step + 2].sum())
        if regions is not None:
            labelled += len(set().union(*(regions.images(s).tolist() for s in range(1, step + 1))))
        if record["n_labelled"] > labelled or (simulated and record["n_labelled"] != labelled):
            raise RunStateError(f"{path}: records[{step}].n_labelled is {record['n_labelled']}, but 'pool' has "
                                f"{labelled} ids labelled by step {step}")


def _state_digest(state: dict) -> str:
    return hashlib.sha256(json.dumps({k: v for k, v in state.items() if k != "digest"}, sort_keys=True)
                          .encode()).hexdigest()


def write_run_state(path: Path, state: dict) -> None:
    """Writes ``state.json`` atomically, with the digest that :func:`read_run_state` checks."""
    atomic_write_text(path, json.dumps({**state, "digest": _state_digest(state)}))


def read_run_state(path: Path, num_ids: Optional[int] = None) -> dict:
    """Reads a run's ``state.json`` and checks every field it holds.

    Checked: the digest of the whole state (states written before segal kept
    one have none), the top-level keys and their types, the pool, the records
    (:func:`check_records`) and that they agree with the pool (one record per
    completed step, each selection labelled at the next step, ``n_labelled``
    counting the pool's labels), and the checkpoint checksums.

    Args:
        path: The file.
        num_ids: The dataset's size, when known: the pool must have as many ids.

    Raises:
        RunStateError: The file is missing, not JSON, or fails a check; the message names the first broken field.
        ChecksumMismatch: Its contents differ from its digest.
    """
    path = Path(path)
    if not path.exists():
        raise RunStateError(f"cannot resume: no {path}; start the run without --resume")
    state = read_json(path)
    if not isinstance(state, dict):
        raise RunStateError(f"{path} is not a segal run state: it holds a {type(state).__name__}, not an object")
    if "digest" in state and state["digest"] != _state_digest(state):
        raise ChecksumMismatch(f"{path} is corrupt or was edited: its contents differ from the digest saved with "
                               f"them; segal does not use it")
    if "digest" not in state and "checkpoints" in state:  # the versions that write checkpoint sums write the digest
        raise ChecksumMismatch(f"{path} has checkpoint checksums but no digest: the digest was removed, so its "
                               f"contents cannot be checked; segal does not use it")
    for key, kind in STATE_KEYS.items():
        if not isinstance(state.get(key), kind) or (kind is int and isinstance(state.get(key), bool)):
            article = "an" if kind is int else "a"
            raise RunStateError(f"{path} is not a segal run state: '{key}' is missing or not {article} {kind.__name__}")
    if state["format"] != STATE_FORMAT:
        raise RunStateError(f"{path}: unsupported state format {state['format']!r}")
    if state["completed_step"] < 0:
        raise RunStateError(f"{path}: 'completed_step' must be >= 0, got {state['completed_step']}")
    try:
        RunMode.of_state(state)
    except InvalidValue as err:
        raise RunStateError(f"{path}: {err}") from None
    if not isinstance(state.get("config_hash"), (str, type(None))):
        raise RunStateError(f"{path}: 'config_hash' must be a string, got {state.get('config_hash')!r}")
    checkpoint_in_work_dir(path.parent, state["checkpoint"])
    try:
        pool = ActivePool.from_state_dict(state["pool"])
    except (PoolError, TypeError, ValueError, OverflowError) as err:
        raise RunStateError(f"{path}: its pool is not valid: {err}") from None
    if num_ids is not None and len(pool) != num_ids:
        raise RunStateError(f"{path} has {len(pool)} ids but the dataset has {num_ids}")
    check_records(state["records"], f"{path}: records", len(pool))
    _check_against_pool(state, pool, path)
    _check_checksums(state, path)
    return state


def restored_pool(state: dict) -> ActivePool:
    """The pool of a state that :func:`read_run_state` has checked."""
    return ActivePool.from_state_dict(state["pool"])


def restored_regions(state: dict, pool: ActivePool, path: Optional[Path] = None,
                     region_count: Optional[Callable[[int], int]] = None) -> RegionLabels:
    """The region labels of a region-mode state (none yet when it has no ``regions``), checked against ``pool``.

    Args:
        region_count: Image id -> its number of regions; with it, every row's region id is checked too.

    Raises:
        RunStateError: A row is malformed, labels a region the pool does not allow, or (with ``region_count``)
            names a region its image does not have.
    """
    regions, where = RegionLabels(pool), path or "the run's state"
    rows = state.get("regions", [])
    try:
        regions.load_state_dict(rows)
    except PoolError as err:
        raise RunStateError(f"{where}: its region labels are not valid: {err}") from None
    if region_count is not None:
        highest = {}
        for image, region, _ in rows:
            highest[image] = max(highest.get(image, -1), region)
        for image, region in sorted(highest.items()):
            count = region_count(image)
            if region >= count:
                raise RunStateError(f"{where}: its region labels name region {region} of image "
                                    f"{image}, which has {count} regions; the file was edited, or the dataset's "
                                    f"region settings changed")
    return regions


def checkpoint_in_work_dir(work_dir: Path, relative: str) -> Path:
    """``work_dir / relative``, refusing a path that leads outside the work dir."""
    path = (Path(work_dir) / relative).resolve()
    if not path.is_relative_to(Path(work_dir).resolve()):
        raise RunStateError(f"{RunPaths(work_dir).state_path} names checkpoint {relative!r}, outside the work dir; "
                            f"a run state may only point at its own checkpoints/")
    return path

"""Work inside an annotation step, saved as it is done, so that a killed run loses at most one chunk of it.

A step is train -> evaluate -> score -> select -> commit. Until the commit
(``state.json``), its progress lives in ``work_dir/partial/``:

* ``step_<s>_training.pth``: the training stage every ``train.checkpoint_interval``
  epochs (weights, optimizer, best epoch so far, random number generator);
* ``step_<s>_trained.pth``: the stage's result once it ends;
* ``step_<s>_scores.npz``: the pool scores of the ids scored so far, after every batch.
  Under torch.distributed each rank saves its shard of the pool as
  ``step_<s>_scores_rank<r>of<w>.npz``; the other files are rank 0's.

Every file is written atomically and carries the run's identity (config
hash, seed, step) and a digest of its contents. They are a cache, not a
record: a file of another run or step is ignored, and one that is truncated,
corrupt or inconsistent is discarded, each with a warning naming it, and its
work is done again. The commit of the step removes them.
"""
import io
import json
import logging
import shutil
import zipfile
import zlib
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from ..utils.checksums import content_digest
from ..utils.distributed import rank_and_world
from ..utils.io import UnreadableFileError, atomic_save_torch, atomic_write_bytes, load_torch_file

logger = logging.getLogger("segal")


class StepProgress:
    """The saved progress of step ``step`` of the run whose identity is ``identity``.

    Args:
        folder: Where the progress of steps in progress goes (``RunFolder.partial_dir``).
        step: The step in progress.
        identity: ``{'config_hash': ..., 'seed': ...}`` of the run.
    """

    def __init__(self, folder: Path, step: int, identity: dict):
        self.folder = Path(folder)
        self.step = step
        self.identity = {**identity, "step": step}

    def _path(self, what: str, suffix: str = ".pth") -> Path:
        return self.folder / f"step_{self.step}_{what}{suffix}"

    def _save(self, what: str, payload: dict) -> None:
        payload = {"identity": self.identity, **payload}
        atomic_save_torch({**payload, "digest": content_digest(payload)}, self._path(what))

    def _load(self, what: str, keys: Tuple[str, ...]) -> Optional[dict]:
        """The saved payload, or ``None`` when there is none or it fails a check (then it is discarded)."""
        path = self._path(what)
        if not path.is_file():
            return None
        try:
            saved = load_torch_file(path, "cpu")
        except UnreadableFileError as err:
            return _discard(path, str(err))
        digest = saved.pop("digest", None)
        if digest != content_digest(saved) or not set(keys) <= set(saved):
            return _discard(path, "its contents do not match the digest saved with them")
        if saved.get("identity") != self.identity:
            logger.warning("ignoring %s: it belongs to another run or step (%s, not %s)",
                           path, saved.get("identity"), self.identity)
            return None
        return saved

    def save_training(self, stage_state: dict) -> None:
        """Saves a training stage in progress (see :func:`~segal.engine.train.train_stage`)."""
        self._save("training", {"stage": stage_state})

    def load_training(self) -> Optional[dict]:
        saved = self._load("training", ("stage",))
        return None if saved is None else saved["stage"]

    def save_trained(self, model_state: dict, result: dict) -> None:
        """Saves the weights a finished training stage kept, with its :class:`StageResult` fields."""
        self._save("trained", {"model": model_state, "result": result})
        self._path("training").unlink(missing_ok=True)

    def load_trained(self) -> Optional[Tuple[dict, dict]]:
        saved = self._load("trained", ("model", "result"))
        return None if saved is None else (saved["model"], saved["result"])

    def _scores_path(self) -> Path:
        rank, world = rank_and_world()
        return self._path("scores" if world == 1 else f"scores_rank{rank}of{world}", ".npz")

    def save_scores(self, ids: np.ndarray, scores: np.ndarray) -> None:
        """Saves the scores of the first ``len(ids)`` ids of a scoring pass (of this rank's shard)."""
        ids, scores = np.asarray(ids, np.int64), np.asarray(scores, np.float64)
        identity = json.dumps(self.identity, sort_keys=True)
        buffer = io.BytesIO()
        np.savez(buffer, ids=ids, scores=scores, identity=np.array(identity),
                 digest=np.array(content_digest([identity, ids, scores])))
        atomic_write_bytes(self._scores_path(), buffer.getvalue())

    def load_scores(self) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """``(ids, scores)`` of an interrupted pass, or ``None``; a file that fails a check is discarded."""
        path = self._scores_path()
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as saved:
                identity, ids, scores = str(saved["identity"]), saved["ids"], saved["scores"]
                digest, owner = str(saved["digest"]), json.loads(str(saved["identity"]))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            return _discard(path, f"it cannot be read ({type(err).__name__}: {' '.join(str(err).split())[:120]})")
        if (ids.dtype != np.int64 or scores.dtype != np.float64 or ids.ndim != 1 or ids.shape != scores.shape
                or digest != content_digest([identity, ids, scores])):
            return _discard(path, "its ids and scores do not match each other or the digest saved with them")
        if owner != json.loads(json.dumps(self.identity, sort_keys=True)):
            logger.warning("ignoring %s: it belongs to another run or step", path)
            return None
        return ids, scores

    def clear(self) -> None:
        """Removes the saved progress (after the step's commit)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _discard(path: Path, why: str) -> None:  # returns None for the callers' "nothing saved"
    """Removes a saved piece of progress that failed a check; its work is done again."""
    logger.warning("discarding %s: %s; that work is done again", path, why)
    path.unlink(missing_ok=True)
    return None

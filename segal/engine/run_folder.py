"""A run's work dir: the one owner of its ``state.json`` and of where its files go.

The loop commits through it, ``tools/select.py`` records selections through
it, the grid asks it whether a run is finished, and replays and reports read
through it. Every read is checked against the schema of
:mod:`segal.engine.run_state`, and every identity check (seed, config hash,
which step a checkpoint belongs to) is written here once.
"""
import json
from pathlib import Path
from typing import Dict, List, Optional

from ..config import IDENTITY_EXCLUDED, config_differences, read_run_config
from ..data import protocols  # noqa: F401  registers the protocols whose defaults planned_num_steps reads
from ..models.checkpoints import read_checkpoint
from ..registry import PROTOCOLS, effective_settings
from ..utils.lock import work_dir_lock
from ..utils.run_paths import RunPaths
from .run_state import RunStateError, checkpoint_in_work_dir, read_run_state, write_run_state


class RunFolder(RunPaths):
    """The files of one run (where they lie: :class:`~segal.utils.run_paths.RunPaths`) and the checks on them.

    Args:
        root: The run's work dir.
    """

    @classmethod
    def holding(cls, checkpoint) -> Optional["RunFolder"]:
        """The run whose ``checkpoints/`` folder holds ``checkpoint`` (and that has a state), else ``None``."""
        root = cls.root_of_checkpoint(Path(checkpoint).resolve())
        return cls(root) if root is not None and cls(root).has_state() else None

    def lock(self, holder: str):
        """Holds the run's lock while the block runs (:func:`~segal.utils.lock.work_dir_lock`)."""
        return work_dir_lock(self.lock_path, holder)

    def pruned_checkpoints(self, step: int, keep: int) -> List[Path]:
        """The checkpoints that ``loop.keep_checkpoints=keep`` lets go once step ``step`` is committed."""
        return [self.checkpoint_path(old) for old in range(0, step - keep + 1)] if keep > 0 else []

    def relative(self, path: Path) -> str:
        """``path`` as the state names it: relative to the run folder, with forward slashes."""
        return Path(path).relative_to(self.root).as_posix()

    def has_state(self) -> bool:
        return self.state_path.is_file()

    def read_state(self, num_ids: Optional[int] = None) -> dict:
        """The checked state (:func:`~segal.engine.run_state.read_run_state`); ``num_ids``: the dataset's size."""
        return read_run_state(self.state_path, num_ids)

    def write_state(self, state: dict) -> None:
        """Writes ``state`` atomically with its digest: the run's commit point."""
        write_run_state(self.state_path, state)

    def is_finished(self) -> bool:
        """Whether the run has committed the steps its ``config.json`` plans.

        An unreadable or missing state counts as unfinished: resuming it refuses it by name.
        """
        if not self.has_state():
            return False
        try:
            state = self.read_state()
            planned = planned_num_steps(read_run_config(self.root))
        except (RunStateError, ValueError, KeyError, OSError):
            return False
        return state["completed_step"] >= planned

    def check_identity(self, state: dict, seed: int, config_hash: Optional[str], config: Optional[dict] = None) -> None:
        """Refuses a state written by another seed or another config.

        Args:
            state: The checked state.
            seed: The seed of the run that wants to use it.
            config_hash: Its config's hash; ``None`` skips the config check.
            config: Its config as a dict, to name the keys that differ from the run's own.

        Raises:
            RunStateError: Naming the seeds, or the differing keys and the run's own config.
        """
        if state["seed"] != seed:
            raise RunStateError(f"{self.state_path} was written with seed {state['seed']}, not {seed}")
        saved = state.get("config_hash")
        if saved is None or config_hash is None or saved == config_hash:
            return
        differing = ""
        if config is not None and self.config_path.is_file():
            as_saved = json.loads(json.dumps(config, default=str))  # tuples as config.json holds them: lists
            differences = config_differences(read_run_config(self.root), as_saved)
            keys = [k for k in differences if k not in IDENTITY_EXCLUDED]
            differing = f" (it differs in {', '.join(keys)})" if keys else ""
        raise RunStateError(f"{self.state_path} was written by a run of another config{differing}; "
                            f"use the run's own config, {self.config_path}")

    def check_checkpoint_of(self, state: dict, meta: dict, checkpoint, require_run: bool = True) -> None:
        """Refuses a checkpoint that is not the one of the state's last committed step.

        Args:
            state: The checked state.
            meta: The checkpoint's ``meta`` (its ``run`` says which run and step wrote it).
            checkpoint: Its path, for the message.
            require_run: Refuse a checkpoint whose ``meta`` names no run (one
                given on the command line); the run's own latest checkpoint,
                named by the state, may be an older segal's.

        Raises:
            RunStateError: It names no run, another run or another step; the message names the right file.
        """
        expected = {"config_hash": state.get("config_hash"), "seed": state["seed"], "step": state["completed_step"]}
        if expected["config_hash"] is None:
            return  # a state written before runs carried their identity
        latest = self.root / state["checkpoint"]
        run = meta.get("run")
        if run is None and not require_run:
            return
        if run is None:
            raise RunStateError(f"{checkpoint} does not say which run it belongs to; use {latest}, the checkpoint of "
                                f"step {state['completed_step']} of {self.state_path}")
        if run != expected:
            same_run = (run.get("config_hash"), run.get("seed")) == (expected["config_hash"], expected["seed"])
            which = f"step {run.get('step')}" if same_run else "another run"
            raise RunStateError(f"{checkpoint} is the checkpoint of {which}, not of step {state['completed_step']} "
                                f"of {self.state_path}; use {latest}")

    def read_latest_checkpoint(self, state: dict, device) -> dict:
        """The checkpoint of the state's last step, checked against its recorded SHA-256 and its run identity."""
        path = checkpoint_in_work_dir(self.root, state["checkpoint"])
        checkpoint = read_checkpoint(path, device, state.get("checkpoints", {}).get(state["checkpoint"]))
        self.check_checkpoint_of(state, checkpoint["meta"], path, require_run=False)
        return checkpoint

    def recorded_checksums(self) -> Dict[str, str]:
        """``{checkpoint path relative to the run: SHA-256}`` as the state records them."""
        return dict(self.read_state().get("checkpoints", {}))


def planned_num_steps(run_config: dict) -> int:
    """The annotation steps a run's config plans: ``protocol.num_steps``, or its protocol's default."""
    return int(effective_settings(PROTOCOLS, run_config["protocol"])["num_steps"])


def recorded_checksum(checkpoint) -> Optional[str]:
    """The SHA-256 that the run holding ``checkpoint`` recorded for it, or ``None``.

    ``None`` when the file does not lie in a run's ``checkpoints/`` folder, or
    the run's state (written before checksums, or after the checkpoint was
    pruned) has none for it.

    Raises:
        RunStateError: The run's ``state.json`` fails its checks.
    """
    folder = RunFolder.holding(checkpoint)
    if folder is None:
        return None
    return folder.recorded_checksums().get(folder.relative(Path(checkpoint).resolve()))

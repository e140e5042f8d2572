"""Where every file of a run folder lies: the names alone, importable by the lightest tool.

:class:`~segal.engine.run_folder.RunFolder` extends :class:`RunPaths` with
the reads, writes and checks of those files; code below the engine (the
config, the plugin record, the command line) takes the paths from here.
"""
from pathlib import Path
from typing import List, Optional

CONFIG_JSON = "config.json"
CHECKPOINTS = "checkpoints"


class RunPaths:
    """The layout of one run folder.

    Args:
        root: The run's work dir.
    """

    def __init__(self, root):
        self.root = Path(root)

    @property
    def state_path(self) -> Path:
        """``state.json``: the run's commit point."""
        return self.root / "state.json"

    @property
    def metrics_path(self) -> Path:
        """``metrics.jsonl``: one record per committed step."""
        return self.root / "metrics.jsonl"

    @property
    def config_path(self) -> Path:
        """``config.json``: the merged config as data, what every tool reads."""
        return self.root / CONFIG_JSON

    @property
    def config_py_path(self) -> Path:
        """``config.py``: the merged config for people to read; nothing executes it."""
        return self.root / "config.py"

    @property
    def plugins_path(self) -> Path:
        """``plugins.json``: the plugin modules the run was made with (:mod:`segal.plugins`)."""
        return self.root / "plugins.json"

    @property
    def lock_path(self) -> Path:
        """``.lock``: held by the one process that writes to the run (:mod:`segal.utils.lock`)."""
        return self.root / ".lock"

    @property
    def partial_dir(self) -> Path:
        """``partial/``: the saved progress inside a step (:class:`~segal.engine.step_progress.StepProgress`)."""
        return self.root / "partial"

    @property
    def tensorboard_dir(self) -> Path:
        """``tensorboard/``: TensorBoard events, with ``loop.tensorboard=True``."""
        return self.root / "tensorboard"

    @property
    def annotation_times_path(self) -> Path:
        """``annotation_times.json``: each imported image's annotation time (:mod:`segal.data.annotation_times`)."""
        return self.root / "annotation_times.json"

    def labelstudio_pull_path(self, name: str) -> Path:
        """``labelstudio_pulls/<name>.json``: a Label Studio export that ``segal-labelstudio pull`` fetched or the
        ML backend's webhook received, kept as the record of what was imported."""
        return self.root / "labelstudio_pulls" / f"{name}.json"

    def beyond_records(self) -> List[Path]:
        """What a copy of the run's records leaves out (a grid's kept runs): the checkpoints, the caches, the lock,
        and ``config.py`` (written for people; segal reads ``config.json``)."""
        return [self.root / CHECKPOINTS, self.partial_dir, self.tensorboard_dir, self.lock_path, self.config_py_path]

    def checkpoint_path(self, step: int) -> Path:
        """``checkpoints/step_<step>.pth``."""
        return self.root / CHECKPOINTS / f"step_{step}.pth"

    def selection_path(self, next_step: int) -> Path:
        """``selection_step<N>.json`` in the run folder: the selection for annotation step ``next_step``."""
        return selection_file(self.root, next_step)

    @staticmethod
    def root_of_checkpoint(checkpoint) -> Optional[Path]:
        """``<run>`` for a checkpoint at ``<run>/checkpoints/<file>`` (by its folder's name), else ``None``."""
        checkpoint = Path(checkpoint)
        return checkpoint.parent.parent if checkpoint.parent.name == CHECKPOINTS else None


def selection_file(out_dir, next_step: Optional[int]) -> Path:
    """``selection_step<N>.json`` of annotation step ``N``, or ``selection.json`` of a folder pool (``None``)."""
    return Path(out_dir) / ("selection.json" if next_step is None else f"selection_step{next_step}.json")


def beside_selection(selection: Path, kind: str) -> Path:
    """``<kind>_step<N>/`` beside ``selection_step<N>.json`` (``<kind>/`` beside ``selection.json``): the folder of
    the selection's predictions, region masks or an export (``kind``: ``'predictions'``, ``'regions'``, a tool)."""
    return Path(selection).parent / Path(selection).stem.replace("selection", kind, 1)

"""One run folder read for a report: its config and its step records, checked against its state."""
from pathlib import Path
from typing import List

from ..config import read_run_config
from ..engine.records import headline_metric, read_metrics
from ..engine.run_folder import RunFolder, planned_num_steps
from ..engine.run_state import check_records
from ..errors import InvalidValue
from ..run_mode import RunMode


class Run:
    """One work dir: its config and its step records."""

    def __init__(self, work_dir):
        self.work_dir = Path(work_dir)
        folder = RunFolder(self.work_dir)
        for path in (folder.config_path, folder.metrics_path):
            if not path.is_file():
                raise FileNotFoundError(f"{self.work_dir} is not a segal run: {path.name} is missing")
        self.config = read_run_config(self.work_dir)
        self.records = read_metrics(folder.metrics_path)
        if not self.records:
            raise InvalidValue(f"{folder.metrics_path} has no records yet")
        check_records(self.records, str(folder.metrics_path))
        if folder.has_state():
            _check_against_state(folder, self.records)
        self.metric = headline_metric(self.records[0])
        self.length = len(self.records)  # before any truncate()
        self._compared_steps = None

    def truncate(self, steps: int) -> None:
        """Keeps the first ``steps`` records, to compare a finished run with shorter finished ones."""
        self.records = self.records[:steps]
        self._compared_steps = steps

    @property
    def scorer(self) -> str:
        return self.config["scorer"]["type"]

    @property
    def planned_steps(self) -> int:
        """Records a finished run has: step 0 and ``protocol.num_steps`` annotation steps.

        An annotation run (``loop.oracle='annotators'``) has no planned length: it is as long as it is.
        """
        if RunMode.of_config(self.config).labels_from_files:
            return len(self.records)
        planned = planned_num_steps(self.config) + 1
        return planned if self._compared_steps is None else min(planned, self._compared_steps)

    @property
    def finished(self) -> bool:
        return len(self.records) >= self.planned_steps

    @property
    def n_labelled(self) -> List[int]:
        return [r["n_labelled"] for r in self.records]


def _check_against_state(folder: RunFolder, records: List[dict]) -> None:
    """``metrics.jsonl`` must say what the run's ``state.json`` (its commit point, checked) says.

    It may stop short of the state (a write interrupted between the two files); the run then counts as unfinished.
    """
    committed = folder.read_state()["records"]
    metrics, state = folder.metrics_path, folder.state_path
    rewrite = (f"rewrite it from the state with: python tools/train.py {folder.config_path} "
               f"--work-dir {folder.root} --resume")
    if len(records) > len(committed):
        raise InvalidValue(f"{metrics} has {len(records)} steps, {state} only {len(committed)}; {rewrite}")
    for step, record in enumerate(records):
        if record != committed[step]:
            raise InvalidValue(f"{metrics}: step {step} differs from {state}; the file was edited or damaged; "
                               f"{rewrite}")

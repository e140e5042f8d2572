"""A grid of runs (scorer x variant x seed) declared in one file, run in worker processes, resumable.

An experiment file is an mmengine config with one ``experiment`` dict::

    experiment = dict(
        title='Table 1 analogue: balanced digits, initial 50, step 50',
        config='configs/digits/mlp_{scorer}_balanced.py',   # one leaf config per scorer
        scorers=['random', 'entropy', 'holdout-loss-change'],
        seeds=list(range(10)),
        cfg_options={'protocol.step_size': 50},             # applied to every run
        variants={'holdout 10': {'protocol.holdout_fraction': 0.1}},  # optional, crossed with the scorers
    )

``confirm_seeds=list(range(30, 50))`` adds a confirmation set: the same grid on
seeds disjoint from ``seeds``, run after them. The results page then states a
paired difference as a finding only when it lies beyond two standard errors,
in the same direction, on both seed sets (:mod:`segal.reporting.confirmation`).

``report_x=['pixels', 'clicks']`` compares the runs against those annotation
costs (:mod:`segal.reporting.cost_report`) instead of per step, for grids
whose runs buy different amounts per step (regions against images).

A variant may be limited to some scorers:
``variants={'': {}, 'per class': dict(cfg_options={...}, scorers=['holdout-loss-change'])}``
runs every scorer plainly and the listed ones also with the variant's options.

Each run is ``tools/train.py``'s run of one config, seed and set of options,
in ``<work_root>/<experiment>/<scorer>[/<variant>]/seed<k>``. A finished run
is skipped, an interrupted one is resumed, so a grid stopped at any point
continues where it stopped.
"""
import json
import logging
import os
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, List, Optional

from mmengine.config import Config

from ..config import ConfigError, closest_file
from ..errors import InvalidValue, SegalError, one_line
from ..plugins import given_imports, load_plugins
from ..utils.paths import find_relative
from .grid_progress import GridProgress
from .workers import run_in_workers

logger = logging.getLogger("segal")


class RunsFailed(SegalError, RuntimeError):
    """Some runs of a grid failed; each was reported with its error as it ended."""


EXPERIMENT_KEYS = {"title", "config", "scorers", "seeds", "confirm_seeds", "cfg_options", "variants", "report_x"}


@dataclass(frozen=True)
class GridRun:
    """One run of a grid.

    Attributes:
        config: The leaf config file.
        scorer: The scorer's name in the experiment (as in the config file name).
        variant: The variant's name, ``''`` for none.
        seed: The run seed.
        cfg_options: Every override of this run (the experiment's, then the variant's).
        work_dir: Where the run lives.
    """

    config: str
    scorer: str
    variant: str
    seed: int
    cfg_options: dict = field(hash=False)
    work_dir: Path

    @property
    def label(self) -> str:
        return " ".join(part for part in (self.scorer, self.variant, f"seed {self.seed}") if part)


@dataclass
class Experiment:
    """An experiment file, read and checked.

    Attributes:
        name: The file's stem; names the results folder.
        title: One line saying what the experiment asks.
        runs: Every run of the grid on the discovery seeds, in declaration order.
        report_x: Annotation costs to compare the runs against, instead of steps.
        confirm_runs: The same runs on the confirmation seeds (empty without ``confirm_seeds``).
    """

    name: str
    title: str
    runs: List[GridRun]
    report_x: List[str] = field(default_factory=list)
    confirm_runs: List[GridRun] = field(default_factory=list)

    @property
    def all_runs(self) -> List[GridRun]:
        """The discovery runs, then the confirmation runs: the order the grid runs them in."""
        return self.runs + self.confirm_runs

    def part(self, seeds: List[int]) -> "Experiment":
        """The experiment cut to ``seeds``: a long grid run (and reported) in parts.

        Raises:
            InvalidValue: A seed is not one of the experiment's (discovery or confirmation) seeds.
        """
        declared = sorted({run.seed for run in self.all_runs})
        unknown = sorted(set(seeds) - set(declared))
        if unknown:
            raise InvalidValue(f"--seeds {','.join(map(str, unknown))}: not seeds of experiment {self.name} "
                               f"(it declares {declared})")
        return replace(self, runs=[run for run in self.runs if run.seed in seeds],
                       confirm_runs=[run for run in self.confirm_runs if run.seed in seeds])


def load_experiment(path: str, work_root: str) -> Experiment:
    """Reads an experiment file and lists its runs.

    Config paths in the file are looked up from the current folder, then from
    the folders above the file (the shipped ones name them from the checkout's root).

    Args:
        path: The experiment file.
        work_root: Runs go to ``work_root/<experiment name>/...``.

    Raises:
        ConfigError: The file lacks ``experiment``, has an unknown key, names a config that does not exist, or
            has confirmation seeds that are also discovery seeds.
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"experiment file not found: {path}{closest_file(path)}")
    declared = Config.fromfile(str(source)).get("experiment")
    if not isinstance(declared, dict):
        raise ConfigError(f"{path}: needs a top-level 'experiment = dict(config=..., scorers=[...], seeds=[...])'")
    unknown = set(declared) - EXPERIMENT_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown experiment keys {sorted(unknown)} (valid: {sorted(EXPERIMENT_KEYS)})")
    for key in ("config", "scorers", "seeds"):
        if key not in declared:
            raise ConfigError(f"{path}: experiment.{key} is missing")
    name = source.stem
    seeds, confirm = [int(s) for s in declared["seeds"]], [int(s) for s in declared.get("confirm_seeds") or []]
    shared = sorted(set(seeds) & set(confirm))
    if shared:
        raise ConfigError(f"{path}: experiment.confirm_seeds must be disjoint from experiment.seeds; both hold "
                          f"{shared[:5]}{' ...' if len(shared) > 5 else ''}")
    if confirm and declared.get("report_x"):
        raise ConfigError(f"{path}: experiment.confirm_seeds cannot be combined with report_x: the cost report has "
                          f"no paired differences to confirm")
    return Experiment(name, declared.get("title", name), _grid_runs(path, source, declared, seeds, work_root),
                      list(declared.get("report_x") or []), _grid_runs(path, source, declared, confirm, work_root))


def _grid_runs(path: str, source: Path, declared: dict, seeds: List[int], work_root: str) -> List[GridRun]:
    """Every (scorer, variant, seed) run of the experiment for ``seeds``, in declaration order."""
    name = source.stem
    variants = dict(declared.get("variants") or {"": {}})
    runs = []
    for scorer in declared["scorers"]:
        named = declared["config"].format(scorer=scorer)
        config = find_relative(named, str(source))
        if config is None or not config.is_file():
            raise ConfigError(f"{path}: scorer {scorer!r} has no config {named}")
        config = config.resolve()
        for variant, declared_variant in variants.items():
            options, only = _variant(path, variant, declared_variant)
            if only is not None and scorer not in only:
                continue
            for seed in seeds:
                work_dir = Path(work_root) / name / scorer / _folder(variant) / f"seed{seed}"
                runs.append(GridRun(str(config), scorer, variant, seed,
                                    {**dict(declared.get("cfg_options", {})), **dict(options)}, work_dir))
    return runs


def _variant(path: str, name: str, declared: dict):
    """``(cfg_options, scorers or None)`` of a variant, in its plain or its ``dict(cfg_options, scorers)`` form."""
    declared = dict(declared)
    if "cfg_options" not in declared:
        return declared, None
    unknown = set(declared) - {"cfg_options", "scorers"}
    if unknown:
        raise ConfigError(f"{path}: variant {name!r} has unknown keys {sorted(unknown)} (valid: cfg_options, scorers)")
    return dict(declared["cfg_options"]), declared.get("scorers")


def _folder(variant: str) -> str:
    return variant.replace(" ", "_").replace("/", "-") if variant else ""


@dataclass
class RunOutcome:
    """What happened to one run: ``'done'`` (with its final metric) or ``'failed'`` (with the error)."""

    run: GridRun
    status: str
    seconds: float = 0.0
    error: Optional[str] = None
    final: Optional[float] = None


def run_is_finished(work_dir: Path) -> bool:
    """Whether the run in ``work_dir`` has committed all its planned steps."""
    from ..engine.run_folder import RunFolder

    return RunFolder(work_dir).is_finished()


def run_has_started(work_dir: Path) -> bool:
    """Whether a start of the run in ``work_dir`` saved its config: a later start resumes it."""
    from ..engine.run_folder import RunFolder

    return RunFolder(work_dir).config_path.is_file()


def _run_one(run: GridRun) -> RunOutcome:
    """Runs (or resumes) one run in this process; a finished run returns at once."""
    from ..apis import run_experiment
    from ..config import load_config
    from ..engine.records import headline_metric

    started = time.perf_counter()
    try:
        cfg = load_config(run.config, dict(run.cfg_options))
        cfg.seed = run.seed
        records = run_experiment(cfg, str(run.work_dir), resume=run_has_started(run.work_dir))
    except Exception as err:  # one failing run must not stop the grid; it is reported with its error
        detail = f"{type(err).__name__}: {one_line(err)}"
        logger.debug("%s failed:\n%s", run.label, traceback.format_exc())
        return RunOutcome(run, "failed", time.perf_counter() - started, detail)
    return RunOutcome(run, "done", time.perf_counter() - started, final=records[-1][headline_metric(records[-1])])


def _init_worker(threads: int, imports: tuple = ()) -> None:
    import torch

    torch.set_num_threads(threads)
    load_plugins(imports)  # the entry points, and what the grid's --import named
    logging.getLogger("segal").setLevel(logging.WARNING)


def check_runs(runs: List[GridRun], datasets: bool = True) -> List[GridRun]:
    """What would make the grid fail or mislead, found before any run starts; returns the unfinished runs.

    A run folder holding a run of another config (an experiment file edited
    since) is refused: skipping it as finished would report the old run.
    With ``datasets``, each distinct dataset of the unfinished runs is built
    once, so missing files are one error.

    Raises:
        ConfigError: A run folder holds a run of another config; the message names the keys.
        FileNotFoundError: A dataset's files are missing, as the dataset names them.
    """
    from ..config import load_config, resume_conflicts
    from ..spec import build_dataset

    built, unfinished = set(), []
    for run in runs:
        cfg = load_config(run.config, dict(run.cfg_options))
        cfg.seed = run.seed
        conflicts = resume_conflicts(run.work_dir, cfg)
        if conflicts:
            raise ConfigError(f"{run.work_dir} holds a run of another config than {run.label} (differs in "
                              f"{', '.join(conflicts)}); move it away or pass another --work-root")
        if run_is_finished(run.work_dir):
            continue
        unfinished.append(run)
        key = json.dumps(cfg.dataset.to_dict(), sort_keys=True, default=str)
        if datasets and key not in built:
            built.add(key)
            build_dataset(cfg)
    return unfinished


def run_grid(runs: List[GridRun], workers: int, on_outcome: Callable[[RunOutcome], None]) -> List[RunOutcome]:
    """Runs every run in ``workers`` processes (each imports segal once and runs many), or in this one with 1.

    Torch threads are divided between the workers. ``on_outcome`` is called as each run ends; a run whose
    worker dies (e.g. killed for memory) ends as failed within seconds, and a new worker takes the next run.
    """
    outcomes = []
    if workers <= 1:
        logging.getLogger("segal").setLevel(logging.WARNING)  # one line per run, as from the workers
        for run in runs:
            outcomes.append(_run_one(run))
            on_outcome(outcomes[-1])
        return outcomes
    threads = max(1, (os.cpu_count() or 1) // workers)

    def finished(run: GridRun, outcome: RunOutcome) -> None:
        outcomes.append(outcome)
        on_outcome(outcome)

    def died(run: GridRun, how: str) -> None:
        finished(run, RunOutcome(run, "failed", error=f"its worker process died ({how}); rerun the grid to resume it"))

    run_in_workers(runs, _run_one, workers, finished, died, _init_worker, (threads, given_imports()))
    return outcomes


def run_and_report(experiment: Experiment, workers: int, work_root: str, results: str, command: str,
                   keep_runs: bool = False) -> dict:
    """Runs what is left of ``experiment``, then writes its results page and its row in the results index.

    Args:
        experiment: The grid.
        workers: Worker processes.
        work_root: The runs' root folder (the grid's wall time is kept there).
        results: Where ``<experiment>/`` and ``README.md`` go.
        command: The command to show in the index.
        keep_runs: Keep each run's records under ``results/<experiment>/runs/`` as it finishes
            (:mod:`~segal.experiments.kept_runs`).

    Returns:
        The comparison's summary (see :func:`~segal.reporting.compare.summarise`).

    Raises:
        ConfigError: A run folder holds a run of another config (before any run starts).
        FileNotFoundError: A dataset's files are missing (before any run starts).
        RuntimeError: Some runs failed (each was printed with its error); nothing is reported.
    """
    from ..reporting.compare import compare_runs
    from ..reporting.cost_report import compare_by_cost
    from ..utils.progress import format_seconds
    from .index import accumulate_wall_time, has_row, record_experiment
    from .kept_runs import KeepingFinished

    every_run = experiment.all_runs
    todo = check_runs(every_run)
    progress = GridProgress(len(every_run), len(every_run) - len(todo))
    run_grid(todo, workers, KeepingFinished(progress, results, experiment.name, work_root) if keep_runs else progress)
    wall = accumulate_wall_time(Path(work_root) / experiment.name / "wall_time.json",
                                time.perf_counter() - progress.started)
    if progress.failures:
        raise RunsFailed(f"{len(progress.failures)} runs failed (listed above); fix the cause and rerun the same "
                           f"command: finished runs are skipped")
    work_dirs, page = [str(run.work_dir) for run in experiment.runs], str(Path(results) / experiment.name)
    confirm_dirs = [str(run.work_dir) for run in experiment.confirm_runs]
    if experiment.report_x:
        costs = compare_by_cost(work_dirs, page, experiment.report_x, experiment.title)
        summary = {"settings": costs[experiment.report_x[0]]["settings"]}
    else:
        summary = compare_runs(work_dirs, page, confirm_dirs=confirm_dirs)
    index = Path(results) / "README.md"
    # a rerun that ran nothing keeps the row of the one that did, unless the experiment has changed since
    if todo or not has_row(index, experiment.name, experiment.title, len(every_run)):
        used = f"{workers} worker{'s' if workers > 1 else ''}, {os.cpu_count()} cores"
        record_experiment(index, experiment.name, experiment.title, command, len(every_run),
                          f"{format_seconds(wall)} ({used})")
    summary["wall_seconds"] = wall
    return summary

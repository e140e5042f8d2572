"""tools/grid.py: a declared grid runs in worker processes, resumes after a kill and writes its results page."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXPERIMENT = """experiment = dict(
    title='a tiny grid',
    config='configs/digits/mlp_{scorer}_balanced.py',
    scorers=['random', 'holdout-loss-change'],
    seeds=[0, 1],
    cfg_options={'loop.progress': False, 'protocol.num_steps': 2, 'train.max_epochs': 3},
)
"""


def grid(tmp_path, *extra, results=True, **popen):
    command = [sys.executable, str(REPO / "tools/grid.py"), str(tmp_path / "tiny.py"), "--work-root",
               str(tmp_path / "work"), *(["--results", str(tmp_path / "results")] if results else []), *extra]
    if popen:
        return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.subprocess
def test_grid_survives_a_kill_and_writes_its_results_page(tmp_path):
    (tmp_path / "tiny.py").write_text(EXPERIMENT)
    # kill the whole grid (parent and workers) once its first run has finished
    first = grid(tmp_path, "--workers", "2", popen=True)
    for line in first.stdout:
        if line.lstrip().startswith("[1/4]"):
            break
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate()
    work = tmp_path / "work" / "tiny"
    finished = [d for d in work.glob("*/seed*") if (d / "state.json").is_file()
                and json.loads((d / "state.json").read_text())["completed_step"] == 2]
    assert finished, "a run finished before the kill"
    stamps = {d: (d / "metrics.jsonl").stat().st_mtime_ns for d in finished}

    result = grid(tmp_path, "--workers", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"4 runs, {len(finished)} finished" in result.stdout
    assert all((d / "metrics.jsonl").stat().st_mtime_ns == stamp for d, stamp in stamps.items()), \
        "finished runs are skipped"
    out = tmp_path / "results" / "tiny"
    assert {p.name for p in out.iterdir()} >= {"report.md", "curves.png", "summary.json"}
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["settings"]) == ["Random", "HoldoutLossChange"]
    assert [(p["setting"], p["baseline"]) for p in summary["paired"]] == [("HoldoutLossChange", "Random")]
    assert summary["paired"][0]["final"]["n"] == 2
    index = (tmp_path / "results" / "README.md").read_text()
    row = next(line for line in index.splitlines() if line.startswith("| [tiny]"))
    assert "a tiny grid" in row and "python tools/grid.py" in row and "| 4 |" in row
    assert f"--work-root {(tmp_path / 'work').as_posix()}" in row, "the command reruns as it ran"
    assert "findings.md" not in index, "no link to a findings page this folder does not have"

    again = grid(tmp_path, "--workers", "1")  # nothing left to run: the report is rewritten, the row replaced
    assert again.returncode == 0 and "4 runs, 4 finished" in again.stdout
    assert sum(line.startswith("| [tiny]") for line in (tmp_path / "results/README.md").read_text().splitlines()) == 1

    shipped = {p: p.read_bytes() for p in (REPO / "docs/results").rglob("*") if p.is_file()}
    beside = grid(tmp_path, "--workers", "1", results=False)  # by default the pages go beside the runs
    assert beside.returncode == 0 and f"wrote {tmp_path / 'work' / 'results' / 'tiny'}/report.md" in beside.stdout
    assert (tmp_path / "work" / "results" / "tiny" / "summary.json").is_file()
    assert "--results" not in (tmp_path / "work" / "results" / "README.md").read_text()
    assert {p: p.read_bytes() for p in (REPO / "docs/results").rglob("*") if p.is_file()} == shipped

    # the experiment file edited since: its finished runs are of another config, not results of this one
    (tmp_path / "tiny.py").write_text(EXPERIMENT.replace("'train.max_epochs': 3", "'train.max_epochs': 4"))
    page = (out / "summary.json").read_text()
    edited = grid(tmp_path, "--workers", "1")
    assert edited.returncode == 1 and "Traceback" not in edited.stderr
    assert "holds a run of another config than random seed 0 (differs in train.max_epochs)" in edited.stderr
    assert (out / "summary.json").read_text() == page, "the results page is left as it was"


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_bad_experiment_is_one_line_and_a_failing_run_does_not_stop_the_grid(tmp_path):
    (tmp_path / "tiny.py").write_text(EXPERIMENT.replace("'random'", "'no-such-scorer'"))
    refused = grid(tmp_path, "--dry-run")
    assert refused.returncode == 1 and "scorer 'no-such-scorer' has no config" in refused.stderr
    assert "Traceback" not in refused.stderr
    (tmp_path / "tiny.py").write_text(EXPERIMENT.replace("'train.max_epochs': 3", "'train.max_epochs': 3, "
                                                         "'scorer.lr': -1.0"))
    failing = grid(tmp_path, "--workers", "1")
    assert failing.returncode == 1
    assert failing.stdout.count("failed holdout-loss-change") == 2 and "[2/4]" in failing.stdout
    assert "2 runs failed" in failing.stderr and not (tmp_path / "results" / "tiny").exists()


def test_missing_dataset_files_are_one_error_before_any_run_starts(tmp_path):
    from segal.experiments.grid import check_runs, load_experiment

    (tmp_path / "tiny.py").write_text(EXPERIMENT.replace("configs/digits/mlp_{scorer}_balanced.py",
                                                         "configs/mnist/mlp_{scorer}_balanced.py").replace(
        "'loop.progress': False", f"'loop.progress': False, 'dataset.data_root': '{tmp_path / 'no_mnist'}'"))
    experiment = load_experiment(str(tmp_path / "tiny.py"), str(tmp_path / "work"))
    with pytest.raises(FileNotFoundError, match="MNIST: missing train-images-idx3-ubyte") as refused:
        check_runs(experiment.runs)
    assert str(tmp_path / "no_mnist") in str(refused.value)
    assert not (tmp_path / "work").exists(), "no run was started"


def test_an_experiment_finds_its_configs_from_any_current_folder(tmp_path, monkeypatch):
    """The shipped experiments name configs from the checkout's root; segal-grid may run from anywhere."""
    from segal.experiments.grid import load_experiment

    monkeypatch.chdir(tmp_path)
    experiment = load_experiment(str(REPO / "configs/experiments/digits_table1.py"), "work")
    assert str(REPO / "configs/digits/mlp_random_balanced.py") in {run.config for run in experiment.runs}
    (tmp_path / "configs/digits").mkdir(parents=True)  # a checkout of one's own in the current folder comes first
    (tmp_path / "configs/digits/mlp_random_balanced.py").write_text("")
    (tmp_path / "mine.py").write_text("experiment = dict(title='t', config='configs/digits/mlp_{scorer}_balanced.py', "
                                      "scorers=['random'], seeds=[0])\n")
    assert [run.config for run in load_experiment("mine.py", "work").runs] == [
        str((tmp_path / "configs/digits/mlp_random_balanced.py").resolve())]


@pytest.mark.slow
def test_every_shipped_experiment_lists_runs_whose_configs_load(tmp_path):
    from segal.config import load_config
    from segal.experiments.grid import load_experiment

    experiments = sorted((REPO / "configs/experiments").glob("*.py"))
    assert experiments
    for path in experiments:
        experiment = load_experiment(str(path), str(tmp_path))
        assert experiment.runs and experiment.title != experiment.name, path
        seen = set()
        for run in experiment.runs:
            assert run.work_dir not in seen, f"{path}: two runs share {run.work_dir}"
            seen.add(run.work_dir)
        for run in {(r.config, json.dumps(dict(r.cfg_options), sort_keys=True, default=dict)): r
                    for r in experiment.runs}.values():
            load_config(run.config, dict(run.cfg_options))  # every key is checked


LONG_RUNS = EXPERIMENT.replace("scorers=['random', 'holdout-loss-change']", "scorers=['random']").replace(
    "'protocol.num_steps': 2, 'train.max_epochs': 3", "'protocol.num_steps': 12, 'train.max_epochs': 40")


def _workers_of(pid: int) -> list:
    """Pids of the spawned worker processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"spawn_main" in cmdline and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_killed_worker_fails_its_run_and_the_grid_still_ends(tmp_path):
    """What the out-of-memory killer does: SIGKILL one worker mid-run. The grid notices, ends, and says so."""
    (tmp_path / "tiny.py").write_text(LONG_RUNS)
    proc = grid(tmp_path, "--workers", "2", popen=True)
    runs = [tmp_path / "work" / "tiny" / "random" / f"seed{s}" for s in (0, 1)]
    _wait_for(lambda: all((run / "config.json").is_file() for run in runs), 120, "both runs to start")
    victim = _wait_for(lambda: _workers_of(proc.pid), 10, "the workers")[0]
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, err[-2000:]
    assert time.monotonic() - killed < 150, "the grid ended instead of waiting for the dead worker"
    assert out.count("  failed random seed") == 1 and "killed by SIGKILL" in out and "out-of-memory" in out
    assert "1 runs failed" in err and "Traceback" not in err
    assert "[1/2]" in out, "the other run finished and was reported"


@pytest.mark.slow
@pytest.mark.subprocess
def test_workers_die_with_the_grid(tmp_path):
    (tmp_path / "tiny.py").write_text(LONG_RUNS)
    proc = grid(tmp_path, "--workers", "2", popen=True)
    workers = _wait_for(lambda: len(_workers_of(proc.pid)) == 2 and _workers_of(proc.pid), 120, "two workers")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    _wait_for(lambda: not any(_alive(pid) for pid in workers), 10, "the orphaned workers to exit")


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_confirmation_set_runs_after_the_discovery_seeds_and_judges_every_paired_difference(tmp_path):
    from segal.reporting.paired import paired_difference

    (tmp_path / "tiny.py").write_text(EXPERIMENT.replace("seeds=[0, 1],", "seeds=[0, 1], confirm_seeds=[2, 3, 4],"))
    result = grid(tmp_path, "--workers", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "10 runs (6 on the confirmation seeds), 0 finished" in result.stdout
    ended = [line.split("]")[1] for line in result.stdout.splitlines() if line.lstrip().startswith("[")]
    assert [int(line.split("seed ")[1].split(":")[0]) for line in ended] == [0, 1, 0, 1, 2, 3, 4, 2, 3, 4]
    summary = json.loads((tmp_path / "results/tiny/summary.json").read_text())
    assert summary["settings"]["Random"]["seeds"] == [0, 1], "the page's tables come from the discovery seeds"
    confirmation = summary["confirmation"]
    assert confirmation["seeds"] == [2, 3, 4] and "both" in confirmation["rule"]
    (row,) = confirmation["rows"]
    finals = {}
    for name in ("random", "holdout-loss-change"):  # recomputed from the confirmation runs' own records
        finals[name] = {s: json.loads((tmp_path / f"work/tiny/{name}/seed{s}/metrics.jsonl").read_text()
                                      .splitlines()[-1])["accuracy"] for s in (2, 3, 4)}
    expected = paired_difference(finals["holdout-loss-change"], finals["random"])
    assert row["final"]["confirmation"]["mean"] == pytest.approx(expected["mean"])
    assert row["final"]["confirmation"]["se"] == pytest.approx(expected["se"])
    report = (tmp_path / "results/tiny/report.md").read_text()
    assert "## Confirmation on fresh seeds" in report and "discovery seeds (0–1)" in report
    assert "confirmation seeds (2–4)" in report
    assert "| 10 |" in (tmp_path / "results/README.md").read_text()


def test_confirmation_seeds_must_be_fresh(tmp_path):
    from segal.config import ConfigError
    from segal.experiments.grid import load_experiment

    (tmp_path / "tiny.py").write_text(EXPERIMENT.replace("seeds=[0, 1],", "seeds=[0, 1], confirm_seeds=[1, 2],"))
    with pytest.raises(ConfigError, match=r"confirm_seeds must be disjoint from experiment.seeds; both hold \[1\]"):
        load_experiment(str(tmp_path / "tiny.py"), str(tmp_path / "work"))
    experiment = load_experiment(str(REPO / "configs/experiments/digits_imbalanced.py"), str(tmp_path))
    assert {r.seed for r in experiment.confirm_runs} == set(range(30, 50)) and len(experiment.confirm_runs) >= 20 * 9


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_grid_run_in_parts_reports_each_part_and_finishes_where_it_stopped(tmp_path):
    (tmp_path / "tiny.py").write_text(EXPERIMENT.replace("scorers=['random', 'holdout-loss-change']",
                                                         "scorers=['random']"))
    first = grid(tmp_path, "--workers", "1", "--seeds", "1")
    assert first.returncode == 0, first.stderr
    summary = json.loads((tmp_path / "results/tiny/summary.json").read_text())
    assert [s["seeds"] for s in summary["settings"].values()] == [[1]]
    assert not (tmp_path / "work/tiny/random/seed0").exists()
    assert "--seeds 1" in (tmp_path / "results/README.md").read_text(), "the index shows the part's command"
    rest = grid(tmp_path, "--workers", "1")
    assert rest.returncode == 0 and "2 runs, 1 finished" in rest.stdout
    summary = json.loads((tmp_path / "results/tiny/summary.json").read_text())
    assert [sorted(s["seeds"]) for s in summary["settings"].values()] == [[0, 1]]
    refused = grid(tmp_path, "--seeds", "1,7", "--dry-run")
    assert refused.returncode == 1 and "--seeds 7: not seeds of experiment tiny (it declares [0, 1])" in refused.stderr


@pytest.mark.slow
@pytest.mark.subprocess
def test_kept_runs_come_back_into_a_fresh_work_root_and_a_damaged_one_is_run_again(tmp_path):
    (tmp_path / "tiny.py").write_text(EXPERIMENT.replace("scorers=['random', 'holdout-loss-change']",
                                                         "scorers=['random']"))
    first = grid(tmp_path, "--workers", "1", "--seeds", "0,1", "--keep-runs")
    assert first.returncode == 0, first.stderr
    kept = tmp_path / "results/tiny/runs/random"
    assert {p.name for p in (kept / "seed0").iterdir()} >= {"config.json", "state.json", "metrics.jsonl"}
    assert not (kept / "seed0/checkpoints").exists(), "a kept run leaves its weights behind"
    assert not (kept / "seed0/config.py").exists(), "and the config written for people to read"
    metrics = {seed: (kept / f"seed{seed}/metrics.jsonl").read_bytes() for seed in (0, 1)}
    assert metrics[0] == (tmp_path / "work/tiny/random/seed0/metrics.jsonl").read_bytes()

    # the next part runs on a fresh work root; seed 1's kept state was damaged on the way
    shutil.rmtree(tmp_path / "work")
    state = kept / "seed1/state.json"
    state.write_text(state.read_text().replace('"seed": 1', '"seed": 7'))
    rest = grid(tmp_path, "--workers", "1", "--keep-runs")
    assert rest.returncode == 0, rest.stderr
    assert "seed1 is not a finished run whose state passes its checks" in rest.stderr
    assert "brought back 1 finished runs" in rest.stdout and "2 runs, 1 finished" in rest.stdout
    assert (tmp_path / "work/tiny/random/seed0/metrics.jsonl").read_bytes() == metrics[0]
    assert (kept / "seed1/metrics.jsonl").read_bytes() == metrics[1], "the damaged run ran again, identically"
    assert json.loads(state.read_text())["seed"] == 1, "and its kept copy was replaced"
    summary = json.loads((tmp_path / "results/tiny/summary.json").read_text())
    assert [sorted(s["seeds"]) for s in summary["settings"].values()] == [[0, 1]]
    assert "--keep-runs" in (tmp_path / "results/README.md").read_text()
    # the kept records are enough to re-make the page
    report = subprocess.run([sys.executable, str(REPO / "tools/report.py"), *map(str, sorted(kept.glob("seed*"))),
                             "--out", str(tmp_path / "again")], cwd=REPO, capture_output=True, text=True)
    assert report.returncode == 0, report.stderr

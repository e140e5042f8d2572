"""A run killed inside a step resumes from the last finished phase and writes what an uninterrupted run writes."""
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segal.apis import run_experiment
from segal.config import load_config
from segal.engine.step_progress import StepProgress

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs/digits/mlp_holdout-loss-change_balanced.py")
OPTIONS = {"loop.progress": False, "protocol.num_steps": 3, "train.max_epochs": 8, "train.patience": 3,
           "train.checkpoint_interval": 2, "loop.score_batch_size": 128, "device": "cpu"}


class Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs (not even ``except Exception`` blocks)."""


def outputs(work: Path) -> dict:
    return {name: (work / name).read_bytes() for name in ("metrics.jsonl", "state.json")}


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    work = tmp_path_factory.mktemp("straight") / "run"
    run_experiment(load_config(CONFIG, OPTIONS), work)
    return outputs(work)


def killed_run(work: Path, monkeypatch, method: str, call: int) -> None:
    """Starts the run in ``work``; the ``call``-th ``StepProgress.<method>`` finishes its write, then the run is killed."""
    original = getattr(StepProgress, method)
    calls = {"n": 0}

    def wrapped(self, *args, **kwargs):
        original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == call:
            raise Killed(f"killed after {method} #{call}")

    monkeypatch.setattr(StepProgress, method, wrapped)
    with pytest.raises(Killed):
        run_experiment(load_config(CONFIG, OPTIONS), work)
    monkeypatch.undo()


@pytest.mark.parametrize("method, call, resumed_line", [
    ("save_scores", 7, "continuing an interrupted pass after"),   # inside a scoring pass
    ("save_training", 3, "resuming training after epoch"),       # inside a training stage
    ("save_trained", 2, "using the weights trained before the interruption"),  # between training and scoring
])
def test_kill_inside_a_step_resumes_exactly(straight, tmp_path, monkeypatch, caplog, method, call, resumed_line):
    work = tmp_path / "run"
    killed_run(work, monkeypatch, method, call)
    assert any((work / "partial").iterdir()), "the step's progress was saved"
    caplog.set_level(logging.INFO, logger="segal")
    run_experiment(load_config(CONFIG, OPTIONS), work, resume=True)
    assert resumed_line in caplog.text
    assert outputs(work) == straight
    assert not (work / "partial").exists(), "the commit removes the step's progress"


def test_progress_of_another_run_is_ignored(straight, tmp_path, monkeypatch, caplog):
    work = tmp_path / "run"
    killed_run(work, monkeypatch, "save_scores", 7)
    saved = next((work / "partial").glob("*_scores.npz"))
    step = int(saved.name.split("_")[1])
    other = StepProgress(work / "partial", step, {"config_hash": "someone-else", "seed": 0})
    other.save_scores([1, 2], [0.5, 0.25])  # overwrite with another run's scores
    caplog.set_level(logging.INFO, logger="segal")
    run_experiment(load_config(CONFIG, OPTIONS), work, resume=True)
    assert f"ignoring {saved}" in caplog.text
    assert outputs(work) == straight


def test_temp_files_of_interrupted_writes_are_removed_on_the_next_start(straight, tmp_path, monkeypatch, caplog):
    work = tmp_path / "run"
    killed_run(work, monkeypatch, "save_trained", 2)
    leftovers = [work / ".state.json.k2j3.tmp", work / "checkpoints" / ".step_1.pth.x8a1.tmp"]
    for path in leftovers:
        path.write_bytes(b"half a file")
    caplog.set_level(logging.INFO, logger="segal")
    run_experiment(load_config(CONFIG, OPTIONS), work, resume=True)
    assert not any(path.exists() for path in leftovers)
    assert "removed 2 temporary files" in caplog.text
    assert outputs(work) == straight


def test_a_kill_before_the_first_commit_can_be_resumed(straight, tmp_path, monkeypatch):
    work = tmp_path / "run"
    killed_run(work, monkeypatch, "save_training", 1)
    assert (work / "config.json").is_file() and not (work / "state.json").exists()
    run_experiment(load_config(CONFIG, OPTIONS), work, resume=True)
    assert outputs(work) == straight


@pytest.mark.slow
@pytest.mark.subprocess
def test_sigkill_of_the_real_tool_resumes_exactly(straight, tmp_path):
    work = tmp_path / "run"
    args = [sys.executable, str(REPO / "tools/train.py"), CONFIG, "--work-dir", str(work), "--cfg-options",
            *[f"{k}={v}" for k, v in OPTIONS.items()]]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    deadline = time.time() + 120
    while not (work / "partial").is_dir() or not any((work / "partial").glob("step_1_*")):
        assert time.time() < deadline and process.poll() is None, "the run ended before step 1 began"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    result = subprocess.run(args + ["--resume"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert outputs(work) == straight

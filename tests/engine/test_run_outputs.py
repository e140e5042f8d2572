"""What a run leaves for a person: a log file, TensorBoard events, readable files; and tools that refuse clearly."""
import json
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs/digits/mlp_entropy_balanced.py"
OPTIONS = ["protocol.num_steps=2", "train.max_epochs=6", "train.patience=3", "loop.tensorboard=True", "device=cpu"]


def run_tool(tool, *args, umask="022"):
    command = " ".join([f"umask {umask};", sys.executable, str(REPO / "tools" / tool)] + [f"'{a}'" for a in args])
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, cwd=REPO)


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("runs") / "entropy"
    result = run_tool("train.py", str(CONFIG), "--work-dir", str(work), "--cfg-options", *OPTIONS)
    assert result.returncode == 0, result.stderr
    return work, result


def records(work: Path):
    return [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_log_file_holds_the_console_lines_and_one_line_per_epoch(run):
    work, result = run
    logs = list(work.glob("*.log"))
    assert len(logs) == 1 and re.fullmatch(r"\d{8}_\d{6}\.log", logs[0].name)
    log_messages = [line.split(" ", 2)[2] for line in logs[0].read_text().splitlines()]
    console = [line.split(" ", 1)[1] for line in result.stderr.splitlines() if re.match(r"\d\d:\d\d:\d\d ", line)]
    assert console and all(message in log_messages for message in console[1:])  # the first precedes the file
    for step, record in enumerate(records(work)):
        epochs = [m for m in log_messages if m.startswith(f"INFO train step {step} epoch ")]
        assert len(epochs) == record["train_epochs"]
        assert re.search(r"epoch 1: train loss [\d.]+, holdout loss [\d.]+ \(best [\d.]+ at epoch 1\), [\d.]+s$", epochs[0])
    scoring = [m for m in log_messages if "Entropy scored" in m]
    assert len(scoring) == 2 and re.search(r"scored \d+ pool samples in [\d.]+s \([\d.]+ samples/s\)", scoring[0])


def test_tensorboard_events_match_the_metrics(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    work, _ = run
    events = EventAccumulator(str(work / "tensorboard"))
    events.Reload()
    accuracy = [(e.step, e.value) for e in events.Scalars("metrics/accuracy")]
    assert accuracy == [(r["step"], pytest.approx(r["accuracy"], rel=1e-6)) for r in records(work)]
    for record in records(work):
        losses = events.Scalars(f"stage_{record['step']:02d}/train_loss")
        assert [e.step for e in losses] == list(range(1, record["train_epochs"] + 1))
        holdout = events.Scalars(f"stage_{record['step']:02d}/holdout_loss")
        assert min(e.value for e in holdout) == pytest.approx(record["holdout_loss"], rel=1e-6)
    assert len(events.Scalars("per_class_accuracy/0")) == 3


def test_files_honour_the_umask(run):
    work, _ = run
    files = [p for p in work.rglob("*") if p.is_file() and "tensorboard" not in p.parts]
    assert {"config.py", "metrics.jsonl", "state.json", "step_0.pth"} <= {p.name for p in files}
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {p.name: "0o644" for p in files}


@pytest.mark.slow
@pytest.mark.subprocess
def test_select_refuses_a_simulated_run_and_leaves_it_alone(run):
    work, _ = run
    before = snapshot(work)
    result = run_tool("select.py", str(CONFIG), str(work / "checkpoints/step_2.pth"), "--budget", "5",
                      "--state", str(work / "state.json"), "--cfg-options", "device=cpu")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "simulated run" in result.stderr and "loop.oracle=annotators" in result.stderr
    assert "--pool" not in result.stderr, "a classification config is never sent to --pool, which it cannot use"
    assert snapshot(work) == before


@pytest.mark.slow
@pytest.mark.subprocess
def test_report_refuses_unfinished_runs_unless_asked(run, tmp_path):
    work, _ = run
    partial = tmp_path / "interrupted"
    shutil.copytree(work, partial)
    lines = (partial / "metrics.jsonl").read_text().splitlines(keepends=True)
    (partial / "metrics.jsonl").write_text("".join(lines[:2]))
    refused = run_tool("report.py", str(work), str(partial), "--out", str(tmp_path / "r1"))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"{partial} (2 of 3 steps)" in refused.stderr and "--allow-partial" in refused.stderr
    assert not (tmp_path / "r1").exists()
    allowed = run_tool("report.py", str(work), str(partial), "--out", str(tmp_path / "r2"), "--allow-partial")
    assert allowed.returncode == 0, allowed.stderr
    summary = json.loads((tmp_path / "r2" / "summary.json").read_text())
    entry = summary["settings"]["Entropy"]
    assert entry["partial"] == [str(partial)] and entry["runs_per_step"] == [2, 2, 1]
    assert entry["mean"][2] == pytest.approx(records(work)[2]["accuracy"])
    assert summary["dataset"] == "Digits" and summary["protocol"] == "BalancedProtocol"
    assert "Unfinished runs" in (tmp_path / "r2" / "report.md").read_text() and "unfinished" in allowed.stdout


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("longer_first", [True, False])
def test_report_compares_runs_of_different_lengths_over_their_common_steps(run, tmp_path, longer_first):
    """A run extended by --resume beside a shorter one used to end in IndexError (or, in the other order, AUCs over
    different labels)."""
    work, _ = run
    extended = tmp_path / "extended"
    shutil.copytree(work, extended)
    result = run_tool("train.py", str(extended / "config.json"), "--work-dir", str(extended), "--resume",
                      "--cfg-options", "protocol.num_steps=3")
    assert result.returncode == 0, result.stderr
    assert len(records(extended)) == 4 and len(records(work)) == 3
    order = [str(extended), str(work)] if longer_first else [str(work), str(extended)]
    report = run_tool("report.py", *order, "--out", str(tmp_path / "r"))
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stderr
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    entry = summary["settings"]["Entropy"]
    assert entry["runs_per_step"] == [2, 2, 2] and entry["cut"] == {str(extended): 4}
    assert entry["per_seed"]["0"]["final"] == pytest.approx(records(work)[2]["accuracy"])
    assert summary["auc_steps"] == 3
    text = (tmp_path / "r" / "report.md").read_text()
    assert "compared over their first 3 steps" in text and f"`{extended}` (4 steps)" in text
    assert "| 2 | " in text and "| 3 | " not in text

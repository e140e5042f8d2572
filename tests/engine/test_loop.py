"""End-to-end runs of the active-learning loop on the embedded digits data."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.formats import write_cifar10_format

from segal.apis import run_experiment
from segal.config import ConfigError, load_config
from segal.data import Digits
from segal.data.cityscapes import TRAIN_CLASSES
from segal.engine.loop import RunStateError
from segal.scorers import BudgetError, Entropy

REPO = Path(__file__).resolve().parents[2]
QUIET = {"loop.progress": False}


def train_cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, str(REPO / "tools" / "train.py"), *args], cwd=cwd, capture_output=True, text=True)


def read_records(work_dir: Path):
    return [json.loads(line) for line in (work_dir / "metrics.jsonl").read_text().splitlines()]


def snapshot(work_dir: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(work_dir.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """The imbalanced digits experiment, run as a user runs it."""
    work_dir = tmp_path_factory.mktemp("run") / "entropy"
    result = train_cli(str(REPO / "configs/digits/mlp_entropy_imbalanced.py"), "--work-dir", str(work_dir),
                       "--cfg-options", "loop.progress=False")
    assert result.returncode == 0, result.stderr
    return work_dir, result


@pytest.mark.slow
def test_full_experiment_writes_its_outputs(full_run):
    work_dir, result = full_run
    assert (work_dir / "config.py").is_file() and (work_dir / "state.json").is_file()
    assert sorted(p.name for p in (work_dir / "checkpoints").iterdir()) == sorted(f"step_{s}.pth" for s in range(11))
    cfg = load_config(str(work_dir / "config.py"))
    assert cfg.scorer.type == "Entropy" and cfg.protocol.type == "ImbalancedProtocol"
    assert "step 10/10" in result.stderr, "progress is reported per step"


def test_full_experiment_records(full_run):
    work_dir, _ = full_run
    records = read_records(work_dir)
    assert [r["step"] for r in records] == list(range(11))
    assert [r["n_labelled"] for r in records] == [55 + 10 * s for s in range(11)]
    labels = Digits().labels
    state = json.loads((work_dir / "state.json").read_text())
    splits = np.asarray(state["pool"]["splits"])
    steps = np.asarray(state["pool"]["labelled_step"])
    for r in records[:-1]:
        ids = np.asarray(r["selected_ids"])
        assert len(ids) == 10 and (splits[ids] == 1).all(), "only pool ids are selected"
        assert (steps[ids] == r["step"] + 1).all(), "selected ids are labelled at the next step"
        assert r["selected_class_counts"] == np.bincount(labels[ids], minlength=10).tolist()
        assert 0 <= r["mistake_rate"] <= 1
        assert len(r["per_class_accuracy"]) == 10
    assert records[-1]["selected_ids"] == [] and records[-1]["mistake_rate"] is None
    assert records[-1]["accuracy"] > records[0]["accuracy"]


@pytest.mark.slow
def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    config = str(REPO / "configs/digits/mlp_entropy_balanced.py")
    overrides = {**QUIET, "protocol.num_steps": 5}
    run_experiment(load_config(config, overrides), tmp_path / "straight")

    original_select = Entropy.select

    def interrupted_select(self, ctx, k, rule="top"):
        if ctx.step == 3:
            raise KeyboardInterrupt
        return original_select(self, ctx, k, rule)

    monkeypatch.setattr(Entropy, "select", interrupted_select)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(load_config(config, overrides), tmp_path / "resumed")
    state = json.loads((tmp_path / "resumed" / "state.json").read_text())
    assert state["completed_step"] == 2 and len(read_records(tmp_path / "resumed")) == 3
    monkeypatch.setattr(Entropy, "select", original_select)

    run_experiment(load_config(config, overrides), tmp_path / "resumed", resume=True)
    straight = (tmp_path / "straight" / "metrics.jsonl").read_bytes()
    assert (tmp_path / "resumed" / "metrics.jsonl").read_bytes() == straight
    assert len(straight.splitlines()) == 6


def test_extending_a_finished_run_matches_a_longer_run(tmp_path):
    config = str(REPO / "configs/digits/mlp_random_balanced.py")
    run_experiment(load_config(config, {**QUIET, "protocol.num_steps": 3}), tmp_path / "long")
    run_experiment(load_config(config, {**QUIET, "protocol.num_steps": 2}), tmp_path / "extended")
    run_experiment(load_config(config, {**QUIET, "protocol.num_steps": 3}), tmp_path / "extended", resume=True)
    assert read_records(tmp_path / "extended") == read_records(tmp_path / "long")


def test_budget_larger_than_pool_leaves_saved_state_intact(tmp_path):
    config = str(REPO / "configs/digits/mlp_random_balanced.py")
    work_dir = tmp_path / "run"
    run_experiment(load_config(config, {**QUIET, "protocol.num_steps": 1}), work_dir)
    before = snapshot(work_dir)
    with pytest.raises(BudgetError, match="only .* unlabelled ids"):
        run_experiment(load_config(config, {**QUIET, "protocol.num_steps": 1000}), work_dir, resume=True)
    assert snapshot(work_dir) == before
    # a fresh run with too large a budget writes nothing at all
    with pytest.raises(BudgetError):
        run_experiment(load_config(config, {**QUIET, "protocol.step_size": 5000}), tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()


def test_existing_run_is_not_overwritten_without_resume(tmp_path):
    config = str(REPO / "configs/digits/mlp_random_balanced.py")
    run_experiment(load_config(config, {**QUIET, "protocol.num_steps": 1}), tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(RunStateError, match="--resume"):
        run_experiment(load_config(config, {**QUIET, "protocol.num_steps": 1}), tmp_path)
    with pytest.raises(ConfigError, match="scorer.type"):
        run_experiment(load_config(config, {**QUIET, "protocol.num_steps": 1, "scorer.type": "Entropy"}), tmp_path, resume=True)
    assert snapshot(tmp_path) == before


def test_resume_without_saved_state_is_an_error(tmp_path):
    with pytest.raises(RunStateError, match="no .*state.json"):
        run_experiment(load_config(str(REPO / "configs/digits/mlp_random_balanced.py"), QUIET), tmp_path, resume=True)


@pytest.mark.slow
@pytest.mark.subprocess
def test_cli_missing_data_folder(tmp_path):
    missing = tmp_path / "no_mnist_here"
    result = train_cli(str(REPO / "configs/mnist/mlp_random_balanced.py"), "--work-dir", str(tmp_path / "wd"),
                       "--cfg-options", f"dataset.data_root={missing}")
    assert result.returncode == 1
    assert str(missing / "MNIST" / "raw") in result.stderr and "train-images-idx3-ubyte" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "wd").exists()


@pytest.mark.slow
@pytest.mark.subprocess
def test_cli_unknown_scorer_lists_registered_names(tmp_path):
    result = train_cli(str(REPO / "configs/digits/mlp_random_balanced.py"), "--work-dir", str(tmp_path / "wd"),
                       "--cfg-options", "scorer.type=Entropi")
    assert result.returncode == 1
    assert "unknown scorer type 'Entropi'" in result.stderr
    assert "Entropy" in result.stderr and "Random" in result.stderr
    assert not (tmp_path / "wd").exists()


@pytest.mark.slow
@pytest.mark.subprocess
def test_cli_seed_changes_the_run(tmp_path):
    for seed in (1, 2):
        result = train_cli(str(REPO / "configs/digits/mlp_random_balanced.py"), "--work-dir", str(tmp_path / str(seed)),
                           "--seed", str(seed), "--cfg-options", "protocol.num_steps=1", "loop.progress=False")
        assert result.returncode == 0, result.stderr
    assert load_config(str(tmp_path / "1" / "config.py")).seed == 1
    assert read_records(tmp_path / "1")[0]["selected_ids"] != read_records(tmp_path / "2")[0]["selected_ids"]


@pytest.mark.slow
def test_cifar10_resnet_config_runs_on_files_in_torchvision_format(tmp_path):
    write_cifar10_format(tmp_path / "cifar", n_per_batch=30)
    overrides = {
        **QUIET, "dataset.data_root": str(tmp_path / "cifar"), "dataset.verify_checksums": False,
        "protocol.initial_size": 10, "protocol.num_steps": 2, "train.max_epochs": 2, "train.batch_size": 8,
    }
    records = run_experiment(load_config(str(REPO / "configs/cifar10/resnet18_entropy_balanced.py"), overrides), tmp_path / "wd")
    assert [r["n_labelled"] for r in records] == [10, 11, 12]
    assert all(0 <= r["accuracy"] <= 1 for r in records)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["holdout-loss-change", "holdout-loss-change_pixels"])
def test_segmentation_loop_records_miou_and_selected_pixels(tmp_path, name):
    overrides = {
        **QUIET, "dataset.data_root": str(tmp_path / "city"), "dataset.generate": True, "dataset.num_train": 14, "dataset.num_val": 4,
        "dataset.height": 32, "dataset.width": 64, "dataset.workers": 1,
        "dataset.train_pipeline": [dict(type="HorizontalFlip", p=0.5)],
        "protocol.initial_size": 4, "protocol.holdout_size": 3, "protocol.step_size": 2, "protocol.num_steps": 2,
        "train.max_epochs": 2, "train.batch_size": 4,
    }
    config = REPO / f"configs/synthetic_city/deeplabv3plus-r18_{name}.py"
    records = run_experiment(load_config(str(config), overrides), tmp_path / "wd")
    assert [r["n_labelled"] for r in records] == [4, 6, 8]
    for record in records:
        assert 0 <= record["mIoU"] <= 1 and 0 <= record["pixel_accuracy"] <= 1
        assert list(record["per_class_iou"]) == TRAIN_CLASSES
    first = records[0]
    assert len(first["selected_ids"]) == 2 and list(first["selected_class_pixels"]) == TRAIN_CLASSES
    assert 0 < sum(first["selected_class_pixels"].values()) <= 2 * 32 * 64
    assert 0 <= first["mistake_rate"] <= 1


@pytest.mark.slow
def test_resuming_through_config_json_writes_the_same_checkpoint_bytes(tmp_path):
    """config.json holds the settings in another key order than the config file; the checkpoints must not."""
    from helpers.tools import CONFIG, FAST, load_tool

    from segal.utils.checksums import file_sha256

    train = load_tool("train").main
    fast = [option for option in FAST if not option.startswith("protocol.num_steps")]
    train([CONFIG, "--work-dir", str(tmp_path / "straight"), "--cfg-options", *fast, "protocol.num_steps=2"])
    train([CONFIG, "--work-dir", str(tmp_path / "resumed"), "--cfg-options", *fast, "protocol.num_steps=1"])
    train([str(tmp_path / "resumed" / "config.json"), "--work-dir", str(tmp_path / "resumed"), "--resume",
           "--cfg-options", *fast, "protocol.num_steps=2"])
    for step in (1, 2):
        name = f"checkpoints/step_{step}.pth"
        assert file_sha256(tmp_path / "straight" / name) == file_sha256(tmp_path / "resumed" / name), name

"""Two processes on CPU (gloo), started by torchrun: the same scores, selections, metrics and runs as one process."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from distributed_worker import scorers, scoring_results
from helpers.cityscapes import write_random_cityscapes
from helpers.scorers import Digits64, trained_mlp64

from segal.data import Split
from segal.data.loading import EpochShuffle
from segal.models import SegmentationModel
from segal.utils.distributed import shard

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).resolve().parent / "distributed_worker.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args, nproc=2, timeout=600, cwd=ROOT) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--master_addr=127.0.0.1",
               f"--master_port={free_port()}", *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "tests")}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_shards_are_contiguous_and_cover_the_ids_in_order(monkeypatch):
    ids = np.array([3, 8, 9, 20, 21, 40, 41])
    import segal.utils.distributed as distributed

    shards = []
    for rank in range(3):
        monkeypatch.setattr(distributed, "rank_and_world", lambda rank=rank: (rank, 3))
        shards.append(shard(ids))
    assert np.concatenate(shards).tolist() == ids.tolist()
    assert [len(s) for s in shards] == [3, 2, 2]


def test_training_epochs_are_split_across_ranks_without_loss_or_overlap():
    single = list(EpochShuffle(11, seed=4))
    per_rank = [list(EpochShuffle(11, seed=4, rank=r, world=2)) for r in range(2)]
    assert len(per_rank[0]) == len(per_rank[1]) == 6  # equal batch counts: padded by wrapping around
    merged = [item for pair in zip(*per_rank) for item in pair]
    assert merged[:11] == single and merged[11] == single[0]  # the same order and augmentation seeds as 1 process


@pytest.fixture(scope="module")
def weights_and_data(tmp_path_factory):
    """Weights of a briefly trained float64 MLP with dropout, and of a float64 DeepLabV3+ with its data."""
    root = tmp_path_factory.mktemp("distributed")
    mlp = root / "mlp.pth"
    torch.save(trained_mlp64(Digits64(), dropout=0.2).state_dict(), mlp)
    city = root / "cityscapes"
    write_random_cityscapes(city, {"train": 10, "val": 2}, height=32, width=64, seed=1)
    torch.manual_seed(0)
    seg = root / "deeplab.pth"
    torch.save(SegmentationModel((3,), 19, dropout=0.2).double().state_dict(), seg)
    return mlp, seg, city


@pytest.fixture(scope="module")
def sharded(weights_and_data, tmp_path_factory):
    """Both tasks scored by two ranks in one torchrun launch: each rank's results."""
    out = tmp_path_factory.mktemp("sharded")
    finished = torchrun(WORKER, "scoring", out, *weights_and_data)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def check_same_as_one_process(single: dict, ranks: list, names) -> None:
    assert ranks[0] == ranks[1], "every rank ends with the same results"
    sharded = ranks[0]
    for name in names:
        assert sharded[name]["selected"] == single[name]["selected"], name
        np.testing.assert_allclose(sharded[name]["selection_scores"], single[name]["selection_scores"], rtol=1e-9,
                                   atol=1e-12, err_msg=name)
        if "scores" in single[name]:
            np.testing.assert_allclose(sharded[name]["scores"], single[name]["scores"], rtol=1e-9, atol=1e-12,
                                       err_msg=name)
    assert sharded["evaluation"]["confusion"] == single["evaluation"]["confusion"]
    assert sharded["evaluation"]["loss"] == pytest.approx(single["evaluation"]["loss"], rel=1e-12)


@pytest.mark.distributed
@pytest.mark.slow
def test_sharded_classification_scoring_equals_one_process(sharded, weights_and_data):
    single = scoring_results("classification", weights_and_data[0])
    check_same_as_one_process(single, [r["classification"] for r in sharded], scorers("classification"))
    assert len(set(single["MCDropout"]["scores"])) > 100, "a real ranking, not ties"


@pytest.mark.distributed
@pytest.mark.slow
def test_sharded_segmentation_scoring_equals_one_process(sharded, weights_and_data):
    _, seg, city = weights_and_data
    single = scoring_results("segmentation", seg, str(city))
    check_same_as_one_process(single, [r["segmentation"] for r in sharded], scorers("segmentation"))


@pytest.mark.distributed
@pytest.mark.slow
def test_sharded_region_scoring_and_selection_equal_one_process(sharded, weights_and_data):
    _, seg, city = weights_and_data
    single = scoring_results("segmentation", seg, str(city))["regions"]
    ranks = [r["segmentation"]["regions"] for r in sharded]
    assert set(single) == set(ranks[0]) == set(ranks[1])
    for name, expected in single.items():
        for rank in ranks:
            assert rank[name]["selected"] == expected["selected"], name
            assert rank[name]["tier"] == expected["tier"], name
            np.testing.assert_allclose(rank[name]["scores"], expected["scores"], rtol=1e-9, atol=1e-12, err_msg=name)
    assert sum(single["HoldoutLossChange"]["tier"]) == 6, "the shortlist is re-scored exactly"


def digits_run(work_dir, nproc, num_steps=3, resume=False):
    options = [f"protocol.num_steps={num_steps}", "protocol.step_size=20", "train.max_epochs=4", "loop.progress=False",
               "dist.timeout=120"]
    config = ROOT / "configs/digits/mlp_holdout-loss-change_balanced.py"
    args = ["--work-dir", work_dir, *(["--resume"] if resume else []), "--cfg-options", *options]
    if nproc == 1:
        command = [sys.executable, str(ROOT / "tools/train.py"), str(config), *map(str, args)]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    return torchrun(ROOT / "tools/train.py", config, "--launcher", "pytorch", *args, nproc=nproc)


@pytest.mark.distributed
@pytest.mark.slow
@pytest.mark.subprocess
def test_two_process_digits_run_completes_like_one_process_and_resumes(tmp_path):
    two = digits_run(tmp_path / "two", 2)
    assert two.returncode == 0, two.stderr[-3000:]
    one = digits_run(tmp_path / "one", 1)
    assert one.returncode == 0, one.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "two/metrics.jsonl").read_text().splitlines()]
    reference = [json.loads(line) for line in (tmp_path / "one/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [r["step"] for r in reference] == [0, 1, 2, 3]
    assert [sorted(r) for r in records] == [sorted(r) for r in reference]
    assert [r["n_labelled"] for r in records] == [r["n_labelled"] for r in reference]
    state = json.loads((tmp_path / "two/state.json").read_text())
    splits = np.asarray(state["pool"]["splits"])
    labelled = set(np.flatnonzero(np.asarray(state["pool"]["labelled_step"]) == 0).tolist())
    for record in records[:-1]:
        chosen = record["selected_ids"]
        assert len(chosen) == 20 == len(set(chosen))
        assert (splits[chosen] == Split.POOL).all(), "selections come from the pool, never the holdout or test split"
        assert not labelled & set(chosen), "never selects an id labelled before"
        labelled |= set(chosen)
    assert len(list((tmp_path / "two").glob("*.log"))) == 1, "rank 0 alone writes the log"
    extended = digits_run(tmp_path / "two", 2, num_steps=4, resume=True)
    assert extended.returncode == 0, extended.stderr[-3000:]
    resumed = [json.loads(line) for line in (tmp_path / "two/metrics.jsonl").read_text().splitlines()]
    assert resumed[:3] == records[:3] and [r["step"] for r in resumed] == [0, 1, 2, 3, 4]


def start_ranks(case: str, out: Path) -> list:
    port = free_port()
    processes = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1",
               "PYTHONPATH": str(ROOT / "tests")}
        out.mkdir(parents=True, exist_ok=True)
        processes.append(subprocess.Popen([sys.executable, str(WORKER), case, str(out)], cwd=ROOT, env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return processes


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_failing_or_hanging_rank_stops_every_rank_within_the_timeout(tmp_path):
    """Rank 1 raises (its error is printed and rank 0 stops at once) or sleeps (rank 0 stops after dist.timeout=5 s)."""
    started = time.monotonic()
    failing, hanging = start_ranks("fail", tmp_path / "fail"), start_ranks("hang", tmp_path / "hang")
    try:
        failed = [p.communicate(timeout=120) for p in failing]
        failed_after = time.monotonic() - started
        _, hang_errors = hanging[0].communicate(timeout=120)
        hung_after = time.monotonic() - started
    finally:
        hanging[1].kill()
        hanging[1].communicate()
    assert [p.returncode for p in failing] == [1, 1]
    assert "error (rank 1): rank 1 failed on purpose" in failed[1][1]
    assert "error (rank 0):" in failed[0][1] and "Traceback" not in failed[0][1]
    assert hanging[0].returncode == 1 and "error (rank 0):" in hang_errors and "Traceback" not in hang_errors
    assert failed_after < 60 and hung_after < 60, f"ranks waited {failed_after:.0f}s and {hung_after:.0f}s"


@pytest.mark.slow
@pytest.mark.distributed
@pytest.mark.subprocess
def test_select_and_test_tools_under_torchrun_match_one_process(tmp_path):
    from segal.data.synthetic_city import generate

    root = generate(tmp_path / "city", num_train=14, num_val=4, height=32, width=64, progress=False)
    for label in sorted((root / "gtFine" / "train").rglob("*_labelIds.png"))[6:]:  # not annotated yet
        label.unlink()
    config = ROOT / "configs/cityscapes/deeplabv3plus-r18_holdout-loss-change_annotation.py"
    overrides = {"dataset.data_root": str(root), "dataset.train_pipeline": [], "protocol.holdout_size": 2,
                 "train.max_epochs": 1, "train.batch_size": 4, "loop.progress": False, "device": "cpu",
                 "dist.timeout": 120}
    options = ["--cfg-options", *(f"{key}={value}" for key, value in overrides.items())]
    one, two = tmp_path / "one", tmp_path / "two"
    trained = subprocess.run([sys.executable, str(ROOT / "tools/train.py"), str(config), "--work-dir", str(one),
                              *options], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert trained.returncode == 0, trained.stderr[-3000:]
    shutil.copytree(one, two)
    from segal.annotation import evaluate_checkpoint, select_for_annotation
    from segal.config import load_config

    cfg = load_config(str(config), overrides)
    select_for_annotation(cfg, str(one / "checkpoints/step_0.pth"), 4, str(one), state=str(one / "state.json"))
    evaluate_checkpoint(cfg, str(one / "checkpoints/step_0.pth"), str(one / "test"))
    for tool, *args in (("select.py", "--budget", 4, "--state", two / "state.json"), ("test.py", "--work-dir", two / "test")):
        finished = torchrun(ROOT / "tools" / tool, config, two / "checkpoints/step_0.pth", *args, "--launcher",
                            "pytorch", *options)
        assert finished.returncode == 0, finished.stderr[-3000:]
    selections = [json.loads((work / "selection_step1.json").read_text())["selection"] for work in (one, two)]
    assert [e["id"] for e in selections[1]] == [e["id"] for e in selections[0]]
    np.testing.assert_allclose([e["score"] for e in selections[1]], [e["score"] for e in selections[0]], rtol=1e-5)
    metrics = [json.loads((work / "test/metrics.json").read_text()) for work in (one, two)]
    assert metrics[1] == metrics[0]
    states = [json.loads((work / "state.json").read_text()) for work in (one, two)]
    assert states[1]["pool"] == states[0]["pool"], "rank 0 recorded the same pending step"


@pytest.mark.slow
@pytest.mark.subprocess
def test_launcher_pytorch_outside_torchrun_is_one_clear_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    finished = subprocess.run([sys.executable, str(ROOT / "tools/train.py"),
                               str(ROOT / "configs/digits/mlp_entropy_balanced.py"), "--launcher", "pytorch",
                               "--work-dir", str(tmp_path / "w")], cwd=ROOT, env=env, capture_output=True, text=True)
    assert finished.returncode == 1
    assert finished.stderr.strip().splitlines()[-1].startswith("error: --launcher pytorch needs the environment "
                                                               "torchrun sets")
    assert "Traceback" not in finished.stderr and not (tmp_path / "w").exists()


def test_dist_settings_are_checked_and_may_change_on_resume(tmp_path):
    from segal.config import ConfigError, check_resumable, load_config, save_config

    config = str(ROOT / "configs/digits/mlp_entropy_balanced.py")
    with pytest.raises(ConfigError, match="'dist.timout'.*did you mean 'timeout'"):
        load_config(config, {"dist.timout": 5})
    with pytest.raises((ConfigError, ValueError), match="dist.timeout must be > 0"):
        load_config(config, {"dist.timeout": 0})
    save_config(load_config(config, {"dist.timeout": 60}), tmp_path)
    check_resumable(tmp_path, load_config(config, {"dist.timeout": 600}))  # a runtime setting, not the experiment
    with pytest.raises(ConfigError, match="train.batch_size"):
        check_resumable(tmp_path, load_config(config, {"train.batch_size": 7}))


def test_sync_batchnorm_needs_cuda(monkeypatch):
    from types import SimpleNamespace

    import segal.engine.train as train
    from segal.settings import TrainSettings

    monkeypatch.setattr(train, "is_distributed", lambda: True)  # as under torchrun
    images = SimpleNamespace(ignore_index=255, input_shape=(3, 32, 32), num_classes=19)
    with pytest.raises(ValueError, match="train.sync_bn=True needs CUDA"):
        train.TrainingStage(SegmentationModel((3,), 19), images, [0], [1], TrainSettings(sync_bn=True),
                            torch.device("cpu"), seed=0, desc="train step 0")


@pytest.mark.slow
@pytest.mark.distributed
@pytest.mark.subprocess
def test_dist_train_prints_an_input_error_once_and_ends_with_one_line(tmp_path):
    """Every rank met the same config error: rank 0 alone says it, and the launcher adds one line, not a traceback."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PORT": str(free_port())}
    finished = subprocess.run(["bash", ROOT / "tools/dist_train.sh", ROOT / "configs/digits/mlp_random_balanced.py", "2",
                               "--work-dir", tmp_path / "w", "--cfg-options", "protocol.num_stpes=2"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 1
    errors = [line for line in finished.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1, finished.stderr[-2000:]
    assert errors[0].startswith("error (rank 0): config key 'protocol.num_stpes'") and "'num_steps'" in errors[0]
    assert "Traceback" not in finished.stderr and "ChildFailedError" not in finished.stderr
    assert finished.stderr.splitlines()[-1].startswith("torchrun: rank 0 failed first (exit code 1); rank 1 stopped")


def test_the_launch_summary_names_the_first_failure_and_a_kill():
    from types import SimpleNamespace

    from segal.launch import describe_failure

    failures = {0: SimpleNamespace(exitcode=-15, timestamp=12), 1: SimpleNamespace(exitcode=-9, timestamp=10),
                2: SimpleNamespace(exitcode=-15, timestamp=12)}
    line = describe_failure(failures)
    assert line.startswith("rank 1 failed first (killed by SIGKILL, often out of memory); ranks 0, 2 stopped after it")


@pytest.mark.distributed
@pytest.mark.slow
@pytest.mark.subprocess
def test_a_two_process_region_run_completes_like_one_process(tmp_path):
    """Regions ride with their image: two ranks buy the same number of regions per step, never one twice."""
    from segal.data.synthetic_city import generate

    root = generate(tmp_path / "city", num_train=24, num_val=4, progress=False)
    config = ROOT / "configs/synthetic_city/deeplabv3plus-r18_entropy.py"
    options = [f"dataset.data_root={root}", "dataset.num_train=24", "dataset.num_val=4", "dataset.regions.type=Grid",
               "dataset.regions.size=32", "protocol.initial_size=4", "protocol.holdout_size=4", "protocol.step_size=None",
               "protocol.budget.unit=regions", "protocol.budget.per_step=6", "protocol.num_steps=2",
               "train.max_epochs=1", "train.batch_size=4", "loop.progress=False", "dist.timeout=120", "device=cpu"]
    runs = {}
    for nproc in (1, 2):
        work = tmp_path / f"run{nproc}"
        args = [str(config), "--work-dir", str(work), "--cfg-options", *options]
        if nproc == 1:
            done = subprocess.run([sys.executable, str(ROOT / "tools/train.py"), *args], cwd=ROOT, capture_output=True,
                                  text=True, timeout=600)
        else:
            done = torchrun(ROOT / "tools/train.py", *args, "--launcher", "pytorch", nproc=2)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[nproc] = json.loads((work / "state.json").read_text())
    one, two = runs[1], runs[2]
    assert [sorted(r) for r in two["records"]] == [sorted(r) for r in one["records"]]
    for state in (one, two):
        rows = state["regions"]
        assert len(rows) == 12 and len({(i, r) for i, r, _ in rows}) == 12
        assert [len(r["selected_regions"]) for r in state["records"][:-1]] == [6, 6]
    assert two["pool"] == one["pool"], "the same splits and initial set"

"""Saved files that cannot lie: a record that fails its checks is refused, a cache that fails them is discarded.

Records (``state.json``, ``metrics.jsonl``, checkpoints) are refused with one
line naming the file and the first broken field, and the run folder stays
byte-identical. Caches inside a step (``partial/``) are discarded with a
warning naming them, and their work is redone: the run still writes what an
uninterrupted run writes.
"""
import errno
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.tools import CONFIG, FAST, load_tool, run_main, snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segal.engine.run_folder import recorded_checksum
from segal.engine.run_state import read_run_state, write_run_state
from segal.engine.step_progress import StepProgress
from segal.models.checkpoints import CONTENT_DIGEST, read_checkpoint
from segal.reporting.compare import Run
from segal.utils import io as segal_io
from segal.utils.io import UnreadableFileError, atomic_save_torch


@pytest.fixture
def segal_log(caplog):
    """``caplog`` on the ``segal`` logger, which does not propagate once a tool has set up console logging."""
    logger = logging.getLogger("segal")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def _signed(edit):
    """Edits state.json and signs it again, as a consistent but wrong file would be: the schema must catch it."""
    def apply(work):
        state = json.loads((work / "state.json").read_text())
        edit(state)
        state.pop("digest", None)
        write_run_state(work / "state.json", state)
    return apply


def _raw(edit):
    """Edits state.json without signing it: the digest must catch it."""
    def apply(work):
        state = json.loads((work / "state.json").read_text())
        edit(state)
        (work / "state.json").write_text(json.dumps(state))
    return apply


def _set(path, value):
    def edit(state):
        node = state
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


STATE_CASES = [
    ("records emptied", _signed(_set(["records"], [])), ["state.json", "'records' has 0 steps", "completed_step is 2"]),
    ("records cut short", _signed(lambda s: s.update(records=s["records"][:2])), ["'records' has 2 steps"]),
    ("selected id out of range", _signed(_set(["records", 1, "selected_ids", 0], 10 ** 6)),
     ["records[1].selected_ids", "out of range"]),
    ("selected id twice", _signed(lambda s: s["records"][1]["selected_ids"].__setitem__(1, s["records"][1]["selected_ids"][0])),
     ["records[1].selected_ids", "more than once"]),
    ("records are ints", _signed(_set(["records"], [1, 2, 3])), ["records[0] must be an object"]),
    ("step is a string", _signed(_set(["records", 1, "step"], "1")), ["records[1].step"]),
    ("completed step is a string", _signed(_set(["completed_step"], "2")), ["'completed_step'"]),
    ("accuracy is NaN", _signed(_set(["records", 0, "accuracy"], float("nan"))), ["records[0].accuracy", "nan"]),
    ("n_labelled inflated", _signed(lambda s: s["records"][2].update(n_labelled=s["records"][2]["n_labelled"] + 15)),
     ["records[2].n_labelled", "'pool' has"]),
    ("selection not in the pool", _signed(lambda s: s["records"][0]["selected_ids"].reverse() or
                                          s["records"][0]["selected_ids"].__setitem__(0, s["records"][1]["selected_ids"][0])),
     ["records[0].selected_ids", "pool"]),
    ("checksum of the latest checkpoint dropped", _signed(lambda s: s["checkpoints"].pop(s["checkpoint"])),
     ["'checkpoints'", "step_2.pth"]),
    ("edited without its digest", _raw(_set(["records", 0, "accuracy"], 0.99)), ["state.json", "corrupt or was edited"]),
    ("edited, its digest removed", _raw(lambda s: s.pop("digest") and s["records"][0].update(accuracy=0.99)),
     ["state.json has checkpoint checksums but no digest", "the digest was removed"]),
]


@pytest.mark.parametrize("case", STATE_CASES, ids=[c[0] for c in STATE_CASES])
def test_resume_refuses_a_state_that_fails_its_checks(case, run, capsys):
    """The fault campaign's case among them: records=[] plus a longer run used to restart the run over its files."""
    _, corrupt, words = case
    corrupt(run)
    before = snapshot(run)
    code, err = run_main("train", [str(run / "config.json"), "--work-dir", str(run), "--resume",
                                   "--cfg-options", "protocol.num_steps=4"], capsys)
    assert code == 1, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert snapshot(run) == before, "nothing saved changed"


def test_a_state_written_before_digests_still_resumes(run):
    """Run folders of earlier versions (no digest, no checkpoint checksums) resume, their checkpoints loaded unchecked."""
    state = json.loads((run / "state.json").read_text())
    for key in ("digest", "checkpoints"):
        state.pop(key)
    (run / "state.json").write_text(json.dumps(state))
    load_tool("train").main([str(run / "config.json"), "--work-dir", str(run), "--resume",
                             "--cfg-options", "protocol.num_steps=3"])
    from segal.utils.checksums import file_sha256

    resumed = read_run_state(run / "state.json")
    assert resumed["completed_step"] == 3 and "checkpoints/step_3.pth" in resumed["checkpoints"]
    assert all(file_sha256(run / name) == digest for name, digest in resumed["checkpoints"].items())


def _metrics_lines(work):
    return (work / "metrics.jsonl").read_text().splitlines()


def _edit_metrics(line_number, edit):
    def apply(work):
        lines = _metrics_lines(work)
        record = json.loads(lines[line_number])
        lines[line_number] = json.dumps(edit(record))
        (work / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return apply


def _edit_config(edit):
    def apply(work):
        config = json.loads((work / "config.json").read_text())
        edit(config)
        (work / "config.json").write_text(json.dumps(config))
    return apply


REPORT_CASES = [
    ("a line that is a list", _edit_metrics(1, lambda r: [r]), ["metrics.jsonl:2", "list"]),
    ("scorer is a list", _edit_config(lambda c: c.update(scorer=[c["scorer"]])), ["config.json", "'scorer'"]),
    ("a step twice", _edit_metrics(2, lambda r: {**r, "step": 1}), ["metrics.jsonl", "[2].step"]),
    ("accuracy NaN", _edit_metrics(1, lambda r: {**r, "accuracy": float("nan")}), ["metrics.jsonl", "[1].accuracy"]),
    ("accuracy a string", _edit_metrics(1, lambda r: {**r, "accuracy": "high"}), ["metrics.jsonl", "[1].accuracy"]),
    ("a selected id twice", _edit_metrics(0, lambda r: {**r, "selected_ids": r["selected_ids"][:1] * 2}),
     ["metrics.jsonl", "[0].selected_ids", "more than once"]),
    ("an edited accuracy", _edit_metrics(1, lambda r: {**r, "accuracy": 0.99}), ["metrics.jsonl", "step 1",
                                                                                    "state.json"]),
]


@pytest.mark.parametrize("case", REPORT_CASES, ids=[c[0] for c in REPORT_CASES])
def test_report_refuses_records_that_fail_their_checks(case, run, tmp_path, capsys):
    _, corrupt, words = case
    corrupt(run)
    code, err = run_main("report", [str(run), "--out", str(tmp_path / "report")], capsys)
    assert code == 1 and "Traceback" not in err and "RuntimeWarning" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert not (tmp_path / "report").exists()


def _flip(path: Path, start: int, count: int = 64) -> None:
    data = bytearray(path.read_bytes())
    for i in range(start, start + count):
        data[i % len(data)] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["in its run", "copied elsewhere"])
def test_flipped_weight_bytes_are_refused(where, run, tmp_path, capsys):
    """The campaign flipped 64 bytes of tensor data; test.py evaluated them (0.354 instead of 0.733)."""
    checkpoint = run / "checkpoints/step_2.pth"
    if where == "copied elsewhere":
        checkpoint = Path(shutil.copy(checkpoint, tmp_path / "shared.pth"))
    _flip(checkpoint, len(checkpoint.read_bytes()) // 2)  # the middle of the file is weight data
    code, err = run_main("test", [str(run / "config.json"), str(checkpoint), "--work-dir", str(tmp_path / "eval")],
                         capsys)
    assert code == 1 and "Traceback" not in err
    assert checkpoint.name in err and "corrupt" in err and not (tmp_path / "eval").exists()


def test_a_checkpoint_without_checksums_is_loaded_with_a_note(run, tmp_path, capsys):
    saved = torch.load(run / "checkpoints/step_2.pth", weights_only=True)
    saved["meta"].pop(CONTENT_DIGEST)
    atomic_save_torch(saved, tmp_path / "other_tool.pth")
    load_tool("test").main([str(run / "config.json"), str(tmp_path / "other_tool.pth"),
                            "--work-dir", str(tmp_path / "eval")])
    err = capsys.readouterr().err
    assert "other_tool.pth carries no checksum" in err and "loaded unchecked" in err
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["accuracy"] == pytest.approx(
        json.loads(_metrics_lines(run)[2])["accuracy"])


def test_a_checkpoint_of_other_shapes_is_one_line(run, tmp_path, capsys):
    saved = torch.load(run / "checkpoints/step_2.pth", weights_only=True)
    name = next(iter(saved["state_dict"]))
    saved["state_dict"][name] = torch.zeros(3, 3)
    torch.save({"state_dict": saved["state_dict"], "meta": {}}, tmp_path / "reshaped.pth")
    code, err = run_main("test", [str(run / "config.json"), str(tmp_path / "reshaped.pth"),
                                  "--work-dir", str(tmp_path / "eval")], capsys)
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 1 and len(lines) == 1 and "Traceback" not in err
    assert "reshaped.pth" in lines[0] and f"{name}: [3, 3] in the file" in lines[0]


def test_a_full_disk_is_named_and_the_run_resumes(finished_run, tmp_path, monkeypatch, capsys):  # noqa: F811
    """Checkpoint writes hit a full device (/dev/full: the kernel's ENOSPC); then space comes back and the run resumes."""
    real_open = open

    def full_for_checkpoints(path, mode="r", *args, **kwargs):
        if "w" in mode and ".pth." in Path(path).name:
            return real_open("/dev/full", mode, *args, **kwargs)
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(segal_io, "open", full_for_checkpoints, raising=False)
    work = tmp_path / "run"
    code, err = run_main("train", [CONFIG, "--work-dir", str(work), "--cfg-options", *FAST], capsys)
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 1 and len(lines) == 1 and "Traceback" not in err, err
    assert "disk full" in lines[0] and ".pth" in lines[0] and "enforce fail" not in lines[0]
    assert not (work / "state.json").exists() and not list(work.rglob(".*.tmp")), "nothing half-written"
    monkeypatch.undo()
    load_tool("train").main([CONFIG, "--work-dir", str(work), "--resume", "--cfg-options", *FAST])
    assert (work / "metrics.jsonl").read_bytes() == (finished_run / "metrics.jsonl").read_bytes()


def test_every_atomic_write_names_a_full_disk(tmp_path, monkeypatch):
    real_open = open
    monkeypatch.setattr(segal_io, "open", lambda path, mode="r", *a, **k: real_open("/dev/full", mode, *a, **k),
                        raising=False)
    (tmp_path / "state.json").write_text("old")
    with pytest.raises(segal_io.DiskFullError, match="disk full: no space left to write .*state.json") as raised:
        segal_io.atomic_write_text(tmp_path / "state.json", "new")
    assert raised.value.errno == errno.ENOSPC
    assert (tmp_path / "state.json").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["state.json"]


# --- caches inside a step -------------------------------------------------------------------------------------------

IDENTITY = {"config_hash": "abc", "seed": 0}


@pytest.fixture
def progress(tmp_path):
    store = StepProgress(tmp_path, 1, IDENTITY)
    ids, scores = np.arange(10, 20, dtype=np.int64), np.linspace(0, 1, 10)
    store.save_scores(ids, scores)
    torch.manual_seed(0)
    store.save_trained({"w": torch.randn(4, 3), "b": torch.randn(3)}, {"epochs": 3, "best_epoch": 2})
    return store, ids, scores


def _npz_rewrite(path: Path, **changes) -> None:
    with np.load(path) as saved:
        arrays = {key: saved[key] for key in saved.files}
    arrays.update(changes)
    np.savez(path, **arrays)


SCORE_CACHE_CASES = [
    ("fewer scores than ids", lambda p: _npz_rewrite(p, scores=np.linspace(0, 1, 9))),
    ("scores of other ids", lambda p: _npz_rewrite(p, ids=np.arange(20, 30, dtype=np.int64))),
    ("truncated", lambda p: p.write_bytes(p.read_bytes()[:300])),
    ("object array", lambda p: np.savez(p, ids=np.array([1, 2], dtype=object), scores=np.zeros(2))),
    ("not a zip", lambda p: p.write_text("not an npz")),
]


@pytest.mark.parametrize("case", SCORE_CACHE_CASES, ids=[c[0] for c in SCORE_CACHE_CASES])
def test_a_score_cache_that_fails_its_checks_is_discarded(case, progress, segal_log):
    store, _, _ = progress
    path = store._scores_path()
    case[1](path)
    with segal_log.at_level(logging.WARNING, logger="segal"):
        assert store.load_scores() is None
    assert f"discarding {path}" in segal_log.text and not path.exists()


def test_a_trained_cache_with_flipped_bytes_is_discarded(progress, segal_log):
    store, _, _ = progress
    path = store._path("trained")
    _flip(path, len(path.read_bytes()) // 2, 16)
    with segal_log.at_level(logging.WARNING, logger="segal"):
        assert store.load_trained() is None
    assert f"discarding {path}" in segal_log.text and not path.exists()


def test_a_discarded_score_cache_is_scored_again_to_the_uninterrupted_result(tmp_path, monkeypatch, segal_log):
    """The campaign's case: fewer scores than ids changed the selection (final accuracy 0.770 against 0.733)."""
    from test_resume_in_step import CONFIG as RESUME_CONFIG
    from test_resume_in_step import OPTIONS, killed_run, outputs

    from segal.apis import run_experiment
    from segal.config import load_config

    straight = tmp_path / "straight"
    run_experiment(load_config(RESUME_CONFIG, OPTIONS), straight)
    work = tmp_path / "run"
    killed_run(work, monkeypatch, "save_scores", 2)
    monkeypatch.undo()
    cache = next((work / "partial").glob("step_*_scores.npz"))
    with np.load(cache) as saved:
        ids = saved["ids"]
    _npz_rewrite(cache, scores=np.zeros(len(ids) - 1))
    with segal_log.at_level(logging.WARNING, logger="segal"):
        run_experiment(load_config(RESUME_CONFIG, OPTIONS), work, resume=True)
    assert f"discarding {cache}" in segal_log.text
    assert outputs(work) == outputs(straight)


# --- the property: flipped bytes are refused or discarded, never used ------------------------------------------------

@pytest.fixture(scope="module")
def saved_files(finished_run, tmp_path_factory):  # noqa: F811
    folder = tmp_path_factory.mktemp("flips")
    outside = folder / "outside.pth"
    shutil.copy(finished_run / "checkpoints/step_2.pth", outside)
    store = StepProgress(folder, 1, IDENTITY)
    store.save_scores(np.arange(50, dtype=np.int64), np.linspace(-1, 1, 50))
    torch.manual_seed(0)
    store.save_trained({"w": torch.randn(16, 8)}, {"epochs": 4})
    files = {"state.json": finished_run / "state.json", "metrics.jsonl": finished_run / "metrics.jsonl",
             "checkpoint in its run": finished_run / "checkpoints/step_2.pth", "checkpoint elsewhere": outside,
             "score cache": store._scores_path(), "trained cache": store._path("trained")}
    return SavedFiles(finished_run, store, {name: (path, path.read_bytes()) for name, path in files.items()})


class SavedFiles:
    """The files to corrupt and their original bytes (with a short repr for hypothesis' reports)."""

    def __init__(self, run, store, files):
        self.run, self.store, self.files = run, store, files

    def __repr__(self) -> str:
        return f"SavedFiles({sorted(self.files)})"


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    return a == b or (a != a and b != b)


def _read(name: str, run: Path, store: StepProgress, path: Path):
    """What segal would use from the file, or an exception when it refuses it (a cache discards: ``None``)."""
    if name == "state.json":
        return read_run_state(path)
    if name == "metrics.jsonl":
        return Run(run).records
    if name.startswith("checkpoint"):  # as the tools read one: with the checksum its run recorded, if any
        return read_checkpoint(path, sha256=recorded_checksum(path))
    if name == "score cache":
        return store.load_scores()
    return store.load_trained()


REFUSALS = (UnreadableFileError, ValueError, RuntimeError, OSError)


@settings(max_examples=240, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["state.json", "metrics.jsonl", "checkpoint in its run", "checkpoint elsewhere",
                             "score cache", "trained cache"]),
       where=st.floats(0, 1, exclude_max=True), count=st.integers(1, 64), mask=st.integers(1, 255))
def test_flipped_bytes_are_refused_or_discarded_never_used(saved_files, name, where, count, mask):
    run, store = saved_files.run, saved_files.store
    path, original = saved_files.files[name]
    path.write_bytes(original)
    expected = _read(name, run, store, path)
    data = bytearray(original)
    start = int(where * len(data))
    for i in range(start, min(start + count, len(data))):
        data[i] ^= mask
    path.write_bytes(bytes(data))
    try:
        try:
            got = _read(name, run, store, path)
        except REFUSALS:
            return  # refused
        if name.endswith("cache") and got is None:
            assert not path.exists(), "a discarded cache is removed"
            return
        assert name != "checkpoint in its run", "a checkpoint whose run recorded its checksum cannot pass changed"
        assert _same(got, expected), f"{name}: changed bytes were used as if they were the saved ones"
    finally:
        path.write_bytes(original)


def test_a_run_killed_before_its_config_was_written_resumes_from_the_start(finished_run, tmp_path):  # noqa: F811
    """A kill in the first second leaves a folder holding only the lock; --resume starts it at step 0."""
    work = tmp_path / "run"
    work.mkdir()
    (work / ".lock").touch()
    load_tool("train").main([CONFIG, "--work-dir", str(work), "--resume", "--cfg-options", *FAST])
    assert (work / "metrics.jsonl").read_bytes() == (finished_run / "metrics.jsonl").read_bytes()

"""A corpus of a user's mistakes, per entry point: each gets one line naming the culprit, and nothing saved changes.

Every case runs the tool's ``main`` in-process (as ``python tools/X.py ...`` would) and checks the exit
code, that the message names the key, value or file at fault, that no traceback is printed, and that
every file of the run folder is byte-identical afterwards.
"""
import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from helpers.tools import CONFIG, FAST, REPO, Marker, load_tool, run_main, snapshot


def _edit_state(work, edit):
    """Edits state.json and signs it again, so that the field checks, not the digest, must catch the edit."""
    from segal.engine.run_state import write_run_state

    state = json.loads((work / "state.json").read_text())
    edit(state)
    state.pop("digest", None)
    write_run_state(work / "state.json", state)


def _write_config(tmp_path, text):
    path = tmp_path / "user_config.py"
    path.write_text(text)
    return str(path)


def _pickled_checkpoint(path: Path, marker: Path) -> Path:
    with open(path, "wb") as f:
        pickle.dump({"state_dict": {}, "meta": Marker(str(marker))}, f)
    return path


# (id, extra argv after CONFIG --work-dir RUN, setup(run, tmp_path) -> argv override or None, words the message names)
TRAIN_CASES = [
    ("misspelt protocol key", ["--cfg-options", "protocol.num_stpes=3"], None, ["protocol.num_stpes", "num_steps"]),
    ("misspelt scorer key", ["--cfg-options", "scorer.stpes=1"], None, ["scorer.stpes"]),
    ("misspelt section", ["--cfg-options", "trian.max_epochs=1"], None, ["trian", "train"]),
    ("misspelt dataset key", ["--cfg-options", "dataset.test_fractoin=0.2"], None, ["test_fractoin", "test_fraction"]),
    ("num_steps not a number", ["--cfg-options", "protocol.num_steps=abc"], None, ["protocol.num_steps", "abc"]),
    ("batch_size not a number", ["--cfg-options", "train.batch_size=abc"], None, ["train.batch_size", "abc"]),
    ("fractional initial size", ["--cfg-options", "protocol.initial_size=50.7"], None, ["protocol.initial_size", "50.7"]),
    ("negative step fraction", ["--cfg-options", "protocol.step_fraction=-0.1"], None, ["protocol.step_fraction"]),
    ("every class a minority", ["--cfg-options", "protocol.minority_fraction=0.95"], None, ["minority_fraction"]),
    ("negative pool per class", ["--cfg-options", "protocol.pool_per_class=-5"], None, ["pool_per_class"]),
    ("initial set too small", ["--cfg-options", "protocol.initial_size=2"], None, ["initial_size=2"]),
    ("infinite lr", ["--cfg-options", "train.optimizer.lr=inf"], None, ["train.optimizer.lr"]),
    ("negative lr", ["--cfg-options", "train.optimizer.lr=-0.1"], None, ["train.optimizer.lr"]),
    ("infinite scorer lr", ["--cfg-options", *FAST, "scorer.type=HoldoutLossChange", "scorer.lr=inf"], None, ["scorer.lr"]),
    ("huge scorer lr", ["--cfg-options", *FAST, "scorer.type=HoldoutLossChange", "scorer.lr=1e30"], None,
     ["scorer.lr", "1e+30"]),
    ("scoring batch of zero", ["--cfg-options", *FAST, "loop.score_batch_size=0"], None, ["loop.score_batch_size", "0"]),
    ("negative checkpoints kept", ["--cfg-options", *FAST, "loop.keep_checkpoints=-1"], None,
     ["loop.keep_checkpoints", "-1"]),
    ("unknown scorer", ["--cfg-options", "scorer.type=Entropyy"], None, ["Entropyy", "Entropy"]),
    ("unknown model", ["--cfg-options", "model.type=Transformer"], None, ["model.type", "Transformer"]),
    ("unknown monitor", ["--cfg-options", "train.monitor=f1"], None, ["train.monitor", "f1"]),
    ("unknown oracle", ["--cfg-options", "loop.oracle=robots"], None, ["loop.oracle", "robots"]),
    ("seed not an int", ["--cfg-options", "seed=abc"], None, ["seed"]),
    ("cuda on a cpu machine", ["--cfg-options", "device=cuda"], None, ["cuda"]),
    ("start over an existing run", [], None, ["already holds a run", "--resume"]),
    ("resume with another seed", ["--resume", "--seed", "7"], None, ["seed"]),
    ("resume with another config", ["--resume", "--cfg-options", *FAST, "scorer.type=Random"], None, ["scorer.type"]),
    ("resume to fewer steps", ["--resume", "--cfg-options", *FAST, "protocol.num_steps=1"], None, ["num_steps", "shorten"]),
    ("state is a list", ["--resume"], lambda w, t: (w / "state.json").write_text("[]"), ["state.json", "list"]),
    ("state without pool", ["--resume"], lambda w, t: _edit_state(w, lambda s: s.pop("pool")), ["state.json", "'pool'"]),
    ("state not json", ["--resume"], lambda w, t: (w / "state.json").write_text("{\"format\": 1,"), ["state.json", "JSON"]),
    ("state points outside", ["--resume"], lambda w, t: _edit_state(w, lambda s: s.update(checkpoint="../../elsewhere.pth")),
     ["outside the work dir"]),
    ("state points at another step", ["--resume"], lambda w, t: _edit_state(w, lambda s: s.update(checkpoint="checkpoints/step_0.pth")),
     ["step_0.pth", "step 2"]),
    ("truncated checkpoint", ["--resume"],
     lambda w, t: (w / "checkpoints/step_2.pth").write_bytes((w / "checkpoints/step_2.pth").read_bytes()[:100]),
     ["step_2.pth", "corrupt"]),
    ("pickled payload", ["--resume"],
     lambda w, t: _pickled_checkpoint(w / "checkpoints/step_2.pth", t / "marker"), ["step_2.pth", "corrupt"]),
]


@pytest.mark.parametrize("case", TRAIN_CASES, ids=[c[0] for c in TRAIN_CASES])
def test_train_refuses_with_one_line(case, run, tmp_path, capsys):
    """Config mistakes are tried on a new work dir, which must not be created; state mistakes on the finished run."""
    name, argv, setup, words = case
    if setup is not None:
        setup(run, tmp_path)
    on_run = "--resume" in argv or name == "start over an existing run"
    work = run if on_run else tmp_path / "new_run"
    before = snapshot(run)
    options = [] if "--cfg-options" in argv else ["--cfg-options", *FAST]
    code, err = run_main("train", [CONFIG, "--work-dir", str(work), *argv, *options], capsys)
    assert code == 1, err
    assert on_run or not work.exists(), "a refused start leaves no folder behind"
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert snapshot(run) == before, "nothing saved changed"
    assert not (tmp_path / "marker").exists(), "no code ran from the checkpoint"


def test_train_refuses_a_syntax_error_naming_file_and_line(tmp_path, capsys):
    config = _write_config(tmp_path, f"_base_ = ['{CONFIG}']\nprotocol = dict(num_steps=2\n")
    code, err = run_main("train", [config, "--work-dir", str(tmp_path / "w")], capsys)
    assert code == 1 and "user_config.py:2" in err and "syntax" in err and "Traceback" not in err
    assert not (tmp_path / "w").exists()


def test_train_refuses_a_work_dir_that_is_a_file(tmp_path, capsys):
    (tmp_path / "w").write_text("not a folder")
    code, err = run_main("train", [CONFIG, "--work-dir", str(tmp_path / "w"), "--cfg-options", *FAST], capsys)
    assert code == 1 and f"{tmp_path / 'w'} is a file" in err
    assert (tmp_path / "w").read_text() == "not a folder"


def test_debug_shows_the_traceback(run, capsys):
    with pytest.raises(Exception, match="num_stpes"):
        load_tool("train").main([CONFIG, "--work-dir", str(run), "--debug", "--cfg-options", "protocol.num_stpes=3"])


def test_divergence_stops_the_run_naming_stage_epoch_and_setting(tmp_path, capsys):
    work = tmp_path / "diverged"
    code, err = run_main("train", [CONFIG, "--work-dir", str(work), "--cfg-options", *FAST, "train.optimizer.lr=1e10"],
                         capsys)
    assert code == 1 and "Traceback" not in err
    assert "train step 0 diverged at epoch" in err and "train.optimizer.lr" in err
    assert not (work / "state.json").exists() and not (work / "checkpoints").exists()


SELECT_CASES = [
    ("budget zero", ["--budget", "0"], None, ["budget", "0"]),
    ("budget larger than the pool", ["--budget", "100000"], None, ["100000"]),
    ("missing checkpoint", ["--budget", "1"], lambda w, t: (w / "checkpoints/step_1.pth").unlink(), ["step_1.pth", "not found"]),
    ("stale checkpoint", ["--budget", "1", "--checkpoint", "checkpoints/step_0.pth"], None, ["step_0.pth", "step 1"]),
    ("truncated checkpoint", ["--budget", "1"],
     lambda w, t: (w / "checkpoints/step_1.pth").write_bytes(b"PK\x03\x04 not much"), ["step_1.pth", "corrupt"]),
    ("pickled payload", ["--budget", "1"], lambda w, t: _pickled_checkpoint(w / "checkpoints/step_1.pth", t / "marker"),
     ["step_1.pth", "corrupt"]),
    ("state of another config", ["--budget", "1", "--cfg-options", "scorer.type=Random"], None, ["another config", "scorer"]),
    ("state of another seed", ["--budget", "1", "--cfg-options", "seed=3"], None, ["seed"]),
    ("state is a list", ["--budget", "1"], lambda w, t: (w / "state.json").write_text("[]"), ["state.json"]),
    ("missing state", ["--budget", "1", "--state", "nowhere/state.json"], None, ["nowhere/state.json"]),
]


@pytest.fixture(scope="module")
def annotation_run(tmp_path_factory):
    """A digits annotation run (loop.oracle='annotators') after step 0 and one selection, trained at step 1."""
    work = tmp_path_factory.mktemp("annotation") / "run"
    options = [*FAST, "loop.oracle=annotators"]
    load_tool("train").main([CONFIG, "--work-dir", str(work), "--cfg-options", *options])
    load_tool("select").main([CONFIG, str(work / "checkpoints/step_0.pth"), "--budget", "3",
                              "--state", str(work / "state.json"), "--cfg-options", *options])
    load_tool("train").main([CONFIG, "--work-dir", str(work), "--cfg-options", *options])
    return work, options


@pytest.mark.parametrize("case", SELECT_CASES, ids=[c[0] for c in SELECT_CASES])
def test_select_refuses_with_one_line(case, annotation_run, tmp_path, capsys):
    _, argv, setup, words = case
    source, options = annotation_run
    work = tmp_path / "run"
    shutil.copytree(source, work)
    if setup is not None:
        setup(work, tmp_path)
    before = snapshot(work)
    argv = list(argv)
    checkpoint = str(work / "checkpoints/step_1.pth")
    if "--checkpoint" in argv:
        at = argv.index("--checkpoint")
        checkpoint = str(work / argv[at + 1])
        del argv[at:at + 2]
    extra = []
    if "--cfg-options" in argv:
        at = argv.index("--cfg-options")
        extra, argv = argv[at + 1:], argv[:at]
    state = [] if "--state" in argv else ["--state", str(work / "state.json")]
    if "--state" in argv:
        argv[argv.index("--state") + 1] = str(tmp_path / argv[argv.index("--state") + 1])
    code, err = run_main("select", [CONFIG, checkpoint, *argv, *state, "--cfg-options", *options, *extra], capsys)
    assert code == 1, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert snapshot(work) == before
    assert not (tmp_path / "marker").exists()


def test_second_writer_is_refused_naming_the_holder(annotation_run, tmp_path, capsys):
    import os

    from segal.engine.run_folder import RunFolder

    source, options = annotation_run
    work = tmp_path / "run"
    shutil.copytree(source, work)
    before = snapshot(work)
    with RunFolder(work).lock("a test holding the run"):
        code, err = run_main("train", [CONFIG, "--work-dir", str(work), "--cfg-options", *options], capsys)
        assert code == 1 and f"pid {os.getpid()}" in err and "in use" in err
        code, err = run_main("select", [CONFIG, str(work / "checkpoints/step_1.pth"), "--budget", "1",
                                        "--state", str(work / "state.json"), "--cfg-options", *options], capsys)
        assert code == 1 and f"pid {os.getpid()}" in err
    assert {k: v for k, v in snapshot(work).items() if k.name != ".lock"} == \
        {k: v for k, v in before.items() if k.name != ".lock"}


TEST_CASES = [
    ("missing checkpoint", lambda w, t: str(w / "checkpoints/step_9.pth"), ["step_9.pth"]),
    ("truncated checkpoint", lambda w, t: _truncated_copy(w / "checkpoints/step_2.pth", t / "cut.pth"), ["cut.pth", "truncated"]),
    ("pickled payload", lambda w, t: str(_pickled_checkpoint(t / "evil.pth", t / "marker")), ["evil.pth", "could run code"]),
    ("not a dict", lambda w, t: _saved(torch.zeros(3), t / "tensor.pth"), ["tensor.pth", "Tensor"]),
    ("a JSON file", lambda w, t: str(w / "state.json"), ["state.json is not a checkpoint", "text"]),
    ("another model", lambda w, t: _saved({"state_dict": {"w": torch.zeros(1)}, "meta": {}}, t / "other.pth"),
     ["other.pth", "does not fit"]),
]


def _truncated_copy(source: Path, target: Path) -> str:
    target.write_bytes(source.read_bytes()[:200])
    return str(target)


def _saved(obj, path: Path) -> str:
    torch.save(obj, path)
    return str(path)


@pytest.mark.parametrize("case", TEST_CASES, ids=[c[0] for c in TEST_CASES])
def test_test_tool_refuses_with_one_line(case, run, tmp_path, capsys):
    _, make_checkpoint, words = case
    checkpoint = make_checkpoint(run, tmp_path)
    before = snapshot(run)
    code, err = run_main("test", [str(run / "config.json"), checkpoint, "--work-dir", str(tmp_path / "eval")], capsys)
    assert code == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, (word, err)
    assert snapshot(run) == before and not (tmp_path / "marker").exists()


def test_report_refuses_folders_that_are_not_runs(run, tmp_path, capsys):
    (run / "metrics.jsonl").write_text((run / "metrics.jsonl").read_text() + "{not json\n")
    code, err = run_main("report", [str(run), "--out", str(tmp_path / "r")], capsys)
    assert code == 1 and "metrics.jsonl:4" in err
    code, err = run_main("report", [str(tmp_path), "--out", str(tmp_path / "r")], capsys)
    assert code == 1 and "config.json is missing" in err and "Traceback" not in err


def test_no_code_runs_from_a_run_folder_config(run, tmp_path, capsys):
    marker = tmp_path / "ran"
    with open(run / "config.py", "a") as f:
        f.write(f"\n_x = __import__('pathlib').Path({str(marker)!r}).write_text('code ran')\n")
    load_tool("report").main([str(run), "--out", str(tmp_path / "r")])
    capsys.readouterr()
    load_tool("train").main([str(run / "config.json"), "--work-dir", str(run), "--resume"])
    assert not marker.exists(), "report.py and --resume read config.json, never config.py"


def test_option_values_keep_their_spaces(tmp_path, capsys):
    """``dataset.data_root=/x/city with spaces`` used to become /x/citywithspaces."""
    root = tmp_path / "city with spaces"
    config = str(REPO / "configs/cityscapes/deeplabv3plus-r18-imagenet_holdout-loss-change_gpu.py")
    code, err = run_main("train", [config, "--work-dir", str(tmp_path / "w"), "--cfg-options",
                                   f"dataset.data_root={root}", "device=cpu"], capsys)
    assert code == 1 and f"no images in {root}/leftImg8bit" in err and "Traceback" not in err
    assert not (tmp_path / "w").exists()

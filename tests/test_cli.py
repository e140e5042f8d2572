"""The command-line tools as a newcomer meets them: fast and complete --help, usage errors, umask, log files."""
import argparse
import importlib.util
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from segal.utils.io import atomic_save_torch, atomic_write_text
from segal.utils.progress import Progress

REPO = Path(__file__).resolve().parents[1]
TOOLS = ("train", "test", "select", "report", "export", "import_labels")


def load_tool(name):
    spec = importlib.util.spec_from_file_location(f"segal_tool_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.subprocess
@pytest.mark.parametrize("tool", TOOLS)
def test_help_imports_neither_torch_nor_mmengine(tool):
    code = (f"import runpy, sys; sys.argv = ['{tool}.py', '--help']\n"
            f"try:\n    runpy.run_path('tools/{tool}.py', run_name='__main__')\n"
            f"except SystemExit:\n    pass\n"
            f"print('heavy:', sorted(m for m in ('torch', 'mmengine', 'cv2', 'matplotlib') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout and "example" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "heavy: []"


@pytest.mark.subprocess
@pytest.mark.parametrize("tool", [*TOOLS, "grid"])
def test_the_installed_command_is_the_tool(tool):
    """``pip install`` puts segal-<tool> beside the interpreter; it runs the same main as tools/<tool>.py."""
    command = Path(sys.executable).parent / f"segal-{tool.replace('_', '-')}"
    assert command.is_file(), f"{command} is missing: reinstall with pip install -e ."
    result = subprocess.run([str(command), "--help"], capture_output=True, text=True, cwd=Path.home())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {command.name} ")
    options = {s for a in load_tool(tool).build_parser()._actions for s in a.option_strings}
    assert all(option in result.stdout for option in options)


@pytest.mark.parametrize("tool", TOOLS)
def test_every_option_has_a_help_text(tool):
    parser = load_tool(tool).build_parser()
    for action in parser._actions:
        if not isinstance(action, argparse._HelpAction):
            assert action.help and action.help != argparse.SUPPRESS, f"tools/{tool}.py: {action.dest} has no help"


def test_usage_lines_in_docstrings_list_every_option():
    for tool in TOOLS:
        module = importlib.import_module(f"segal.commands.{tool}")
        options = {s for a in module.build_parser()._actions for s in a.option_strings if s.startswith("--")}
        missing = {o for o in options - {"--help"} if o not in module.__doc__}
        assert not missing, f"segal/commands/{tool}.py's usage line lacks {sorted(missing)}"


def test_one_option_per_meaning():
    test_options = {s for a in load_tool("test").build_parser()._actions for s in a.option_strings}
    select_options = {s for a in load_tool("select").build_parser()._actions for s in a.option_strings}
    assert "--work-dir" in test_options and "--out" not in test_options
    assert "--work-dir" in select_options and "--out" not in select_options


@pytest.mark.subprocess
def test_cfg_options_without_equals_is_a_usage_error():
    result = subprocess.run([sys.executable, "tools/train.py", "configs/digits/mlp_random_balanced.py",
                             "--cfg-options", "protocol.num_steps"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2
    assert "KEY=VALUE" in result.stderr and "'protocol.num_steps'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "state.json", "{}")
        atomic_save_torch({"a": 1}, tmp_path / "checkpoints" / "step_0.pth")
    finally:
        os.umask(old)
    for path in (tmp_path / "state.json", tmp_path / "checkpoints" / "step_0.pth"):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path.name


def test_progress_logs_lines_when_stderr_is_not_a_terminal(caplog):
    caplog.set_level(logging.INFO, logger="segal")
    with Progress(10, "score Entropy", unit="sample", interval=0.0) as progress:
        assert not progress.shows_bar  # pytest captures stderr
        for _ in range(5):
            progress.update(2)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5
    assert lines[-1].startswith("score Entropy: 10/10 sample (100%)")
    assert "sample/s" in lines[0] and "left" in lines[0]


def test_disabled_progress_is_silent(caplog):
    caplog.set_level(logging.INFO, logger="segal")
    with Progress(4, "x", interval=0.0, enabled=False) as progress:
        progress.update(4)
    assert not caplog.records


def test_an_unwritable_folder_is_one_line_that_says_what_to_do(capsys):
    from segal.cli import exit_on_error

    with pytest.raises(SystemExit) as exit_info:
        exit_on_error(PermissionError(13, "Permission denied", "/runs/locked/state.json"))
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and err.count("\n") == 1
    assert "/runs/locked/state.json" in err and "choose another folder" in err


class _BrokenImages:
    """A map-style dataset whose every image fails to decode."""

    def __len__(self):
        return 4

    def __getitem__(self, index):
        raise ValueError(f"cannot decode image /data/city/img_{index}.png")


def test_an_error_in_a_dataloader_worker_is_its_own_line():
    """torch re-raises a worker's error with the worker's traceback inside the message; the user sees its last line."""
    from torch.utils.data import DataLoader

    from segal.errors import one_line

    loader = DataLoader(_BrokenImages(), batch_size=2, num_workers=1)
    with pytest.raises(ValueError) as raised:
        next(iter(loader))
    assert "Original Traceback" in str(raised.value)
    assert one_line(raised.value) == ("cannot decode image /data/city/img_0.png "
                                      "(raised as ValueError in DataLoader worker process 0)")


@pytest.mark.parametrize("text, value", [
    ("/x/city with spaces", "/x/city with spaces"), ("3", 3), ("1e-3", 1e-3), ("true", True), ("None", None),
    ("[a, b]", ["a", "b"]), ("a,b", ["a", "b"]), ("(1,2)", (1, 2)), ("[(1,2),[a,b],c]", [(1, 2), ["a", "b"], "c"]),
    ("'7'", "7"), ("[]", []),
])
def test_cfg_option_values_parse_like_mmengine_but_keep_spaces(text, value):
    from mmengine.config import DictAction

    from segal.config_options import parse_option_value

    assert parse_option_value(text) == value
    if " " not in text and "'" not in text:  # mmengine drops spaces and quotes; otherwise the two agree
        assert DictAction._parse_iterable(text) == value


@pytest.mark.parametrize("text, value", [
    ("dict(type='SLIC', n_segments=60)", {"type": "SLIC", "n_segments": 60}),  # the form the docs show
    ("dict(count=20, opts=dict(a=[1, 2]))", {"count": 20, "opts": {"a": [1, 2]}}),
])
def test_a_dict_value_is_read_as_the_configs_write_it(text, value):
    from mmengine.config import Config

    from segal.config_options import parse_option_value

    assert parse_option_value(text) == value
    assert Config.fromstring(f"x = {text}", ".py").x.to_dict() == value  # as mmengine reads the same text


@pytest.mark.parametrize("text", ["dict(_base_='x.py')", "dict(1=2)", "dict(type)"])
def test_a_dict_value_takes_only_plain_names(text):
    from segal.config_options import OptionError, parse_option_value

    with pytest.raises(OptionError, match="dict\\(...\\) takes name=value items"):
        parse_option_value(text)


def _train_console(tmp_path, name, progress: bool, terminal: bool) -> str:
    """stderr of a short digits run, through a pseudo-terminal or a pipe."""
    import fcntl
    import pty
    import struct
    import termios

    command = [sys.executable, str(REPO / "tools/train.py"), str(REPO / "configs/digits/mlp_random_balanced.py"),
               "--work-dir", str(tmp_path / name), "--cfg-options", "protocol.num_steps=1", "train.max_epochs=4",
               "train.patience=4", f"loop.progress={progress}", "device=cpu"]
    if not terminal:
        return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300).stderr
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a new pty has 0 columns
    process = subprocess.Popen(command, stderr=child, stdout=subprocess.DEVNULL, cwd=REPO)
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=300)
    os.close(main)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "redirected"])
def test_progress_off_means_no_bars_and_no_epoch_lines(tmp_path, terminal):
    quiet = _train_console(tmp_path, "quiet", progress=False, terminal=terminal)
    assert " epoch " not in quiet and "it/s" not in quiet and "epoch/s" not in quiet, quiet
    assert "step 1/1" in quiet, "the per-step lines stay"
    log = next((tmp_path / "quiet").glob("*.log")).read_text()
    assert log.count("train step 0 epoch") == 4, "the log file keeps every epoch"
    shown = _train_console(tmp_path, "shown", progress=True, terminal=terminal)
    assert ("epoch/s" in shown or "epoch]" in shown) if terminal else shown.count("train step 0 epoch") == 4


def test_a_bug_keeps_its_traceback_and_an_input_error_is_one_line(capsys):
    from segal.cli import errors_as_lines
    from segal.config import ConfigError

    with pytest.raises(SystemExit) as exited:
        with errors_as_lines():
            raise ConfigError("config key 'protocol.num_stpes': no such setting")
    err = capsys.readouterr().err
    assert exited.value.code == 1 and err == "error: config key 'protocol.num_stpes': no such setting\n"

    with pytest.raises(SystemExit) as exited:
        with errors_as_lines():
            {}["a key the code forgot"]  # a programming error, not the user's
    err = capsys.readouterr().err
    assert exited.value.code == 1
    assert "Traceback (most recent call last)" in err and "KeyError: 'a key the code forgot'" in err
    assert err.splitlines()[-1].startswith("error: this is a bug in segal, not in your input; please report it")


def test_running_out_of_memory_is_one_line_naming_the_batch_sizes(capsys):
    from segal.cli import errors_as_lines

    OutOfMemoryError = type("OutOfMemoryError", (RuntimeError,), {})  # torch.OutOfMemoryError, without a GPU
    with pytest.raises(SystemExit):
        with errors_as_lines():
            raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.1 GiB total)")
    err = capsys.readouterr().err
    assert err == ("error: CUDA out of memory; lower train.batch_size, train.eval_batch_size or "
                   "loop.score_batch_size\n")


def test_a_torch_torchvision_mismatch_is_one_line_naming_both(monkeypatch, capsys):
    """What a torchvision built for another torch raises on import, turned into the pair to install."""
    import importlib.metadata

    from segal.cli import errors_as_lines

    versions = {"torch": "2.13.0+cpu", "torchvision": "0.28.0"}
    monkeypatch.setattr(importlib.metadata, "version", lambda name: versions[name])
    with pytest.raises(SystemExit):
        with errors_as_lines():
            raise RuntimeError("operator torchvision::nms does not exist")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "torch 2.13.0+cpu and torchvision 0.28.0 do not work together" in err
    assert "pip install torch==2.13.0 torchvision==0.28.*" in err

"""Run folders are data: code planted in one, or in ``--cfg-options``, never runs.

Each route plants code that would create a marker file if it ran: a
``config.json`` whose ``_base_`` names a Python file, one whose
``custom_imports`` names a module, and ``--cfg-options`` keys that mmengine
interprets. Every tool that reads the planted input must refuse it with one
line naming the key, write nothing, and leave the marker absent.
"""
import json
import shutil
import sys

import pytest
from helpers.tools import CONFIG, FAST, run_main, snapshot


@pytest.fixture
def planted(finished_run, tmp_path, monkeypatch):  # noqa: F811
    """A copy of the run, a Python file and an importable module that would each write ``tmp_path/marker``."""
    work = tmp_path / "run"
    shutil.copytree(finished_run, work)
    marker = tmp_path / "marker"
    code = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('code ran')\n"
    (work / "evil_base.py").write_text(code + (work / "config.py").read_text())
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / "segal_planted_module.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path / "modules"))
    return work, marker


def _plant(work, key, value):
    config = json.loads((work / "config.json").read_text())
    config[key] = value
    (work / "config.json").write_text(json.dumps(config))


ROUTES = [
    ("_base_ in config.json", "_base_", "evil_base.py"),
    ("_base_ list in config.json", "_base_", ["evil_base.py"]),
    ("custom_imports in config.json", "custom_imports", {"imports": ["segal_planted_module"]}),
]


@pytest.mark.parametrize("route", ROUTES, ids=[r[0] for r in ROUTES])
@pytest.mark.parametrize("tool", ["test", "train --resume", "report"])
def test_code_planted_in_config_json_never_runs(route, tool, planted, capsys):
    work, marker = planted
    _, key, value = route
    if key == "_base_":
        value = [str(work / v) for v in value] if isinstance(value, list) else str(work / value)
    _plant(work, key, value)
    before = snapshot(work)
    argv = {
        "test": [str(work / "config.json"), str(work / "checkpoints/step_2.pth"), "--work-dir", str(work / "eval")],
        "train --resume": [str(work / "config.json"), "--work-dir", str(work), "--resume"],
        "report": [str(work), "--out", str(work / "report")],
    }[tool]
    code, err = run_main(tool.split()[0], argv, capsys)
    assert code == 1 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and f"'{key}'" in lines[0] and "config.json" in lines[0], err
    assert not marker.exists(), "the planted code ran"
    assert "segal_planted_module" not in sys.modules
    assert snapshot(work) == before


OPTION_ROUTES = [
    ("_base_ option", "_base_={path}", "'_base_'"),
    ("nested _delete_", "train._delete_=True", "'train._delete_'"),
    ("custom_imports option", "custom_imports.imports=[segal_planted_module]", "'custom_imports.imports'"),
    ("key with a space", "_my key=1", "'_my key'"),
    ("helper name", "_helper=1", "'_helper'"),
]


@pytest.mark.parametrize("route", OPTION_ROUTES, ids=[r[0] for r in OPTION_ROUTES])
def test_interpreted_cfg_options_are_refused_before_anything_is_written(route, planted, tmp_path, capsys):
    work, marker = planted
    _, option, words = route
    option = option.format(path=work / "evil_base.py")
    new = tmp_path / "new_run"
    code, err = run_main("train", [CONFIG, "--work-dir", str(new), "--cfg-options", *FAST, option], capsys)
    assert code == 1 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and words in lines[0], err
    assert not new.exists(), "a refused start leaves no folder behind"
    assert not marker.exists() and "segal_planted_module" not in sys.modules


def test_a_config_json_is_read_as_data(planted):
    """mmengine would substitute ``{{ fileDirname }}`` and act on ``_base_``; a run's config.json is taken as written."""
    from segal.config import load_config

    work, marker = planted
    config = json.loads((work / "config.json").read_text())
    config["work_dir"] = "{{ fileDirname }}/elsewhere"
    (work / "config.json").write_text(json.dumps(config))
    assert load_config(str(work / "config.json")).work_dir == "{{ fileDirname }}/elsewhere"


def test_configs_other_than_python_and_json_are_refused(tmp_path, capsys):
    (tmp_path / "config.yaml").write_text("!!python/object/apply:os.system ['true']\n")
    code, err = run_main("train", [str(tmp_path / "config.yaml"), "--work-dir", str(tmp_path / "w")], capsys)
    assert code == 1 and "config.yaml" in err and ".py file" in err and not (tmp_path / "w").exists()

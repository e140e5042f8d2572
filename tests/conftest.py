"""Fixtures shared across test modules; the helpers they use are in ``tests/helpers/``."""
import json
import shutil
from pathlib import Path

import pytest
from helpers.annotation_runs import make_pending_selection
from helpers.tools import CONFIG, FAST, load_tool

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("bad") / "run"
    load_tool("train").main([CONFIG, "--work-dir", str(work), "--cfg-options", *FAST])
    return work


@pytest.fixture
def run(finished_run, tmp_path):
    """A private copy of the finished 2-step run."""
    work = tmp_path / "run"
    shutil.copytree(finished_run, work)
    return work


@pytest.fixture(scope="module")
def pending(tmp_path_factory):
    """An annotation run with a selection of 3 synthetic-city images pending annotation (one per test module)."""
    return make_pending_selection(tmp_path_factory.mktemp("import"))


@pytest.fixture(scope="module")
def tasks(pending, tmp_path_factory):
    """The Label Studio tasks that segal exports for :func:`pending`'s selection."""
    out = tmp_path_factory.mktemp("tasks")
    load_tool("export").main([str(pending.selection), "--to", "labelstudio", "--out", str(out)])
    return json.loads((out / "tasks.json").read_text())

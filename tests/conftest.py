"""Fixtures shared across test modules; the helpers they use are in ``tests/helpers/``."""
import shutil
from pathlib import Path

import pytest
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

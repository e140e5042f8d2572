"""Running the tools' ``main`` in-process as a user would, on a small digits run."""
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs/digits/mlp_entropy_imbalanced.py")
FAST = ["train.max_epochs=3", "protocol.num_steps=2", "loop.progress=False", "device=cpu"]


def load_tool(name):
    spec = importlib.util.spec_from_file_location(f"segal_tool_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def run_main(tool, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_tool(tool).main(argv)
    return exit_info.value.code, capsys.readouterr().err


class Marker:
    """Unpickling this would create ``path``: a stand-in for code hidden in a checkpoint."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


#: What a tool may allocate beyond what its imports took, in :func:`run_main_capped`.
MEMORY_CAP = 1 << 30

_CAPPED = """
import re, resource, sys
sys.path.insert(0, {helpers!r})
from helpers.tools import load_tool
tool = load_tool({tool!r})
import torch  # noqa: F401  (imported before the cap: the cap is on what the tool allocates)
used = int(re.search(r"VmData:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
resource.setrlimit(resource.RLIMIT_DATA, (used + {cap}, used + {cap}))
tool.main({argv!r})
"""


def run_main_capped(tool, argv, cap=MEMORY_CAP):
    """Runs a tool's ``main`` in a child process that may allocate at most ``cap`` bytes past its imports
    (``RLIMIT_DATA``): ``(exit code, stderr)``. A tool that tries to allocate more dies of ``MemoryError``."""
    import subprocess
    import sys

    code = _CAPPED.format(helpers=str(REPO / "tests"), tool=tool, cap=cap, argv=[str(a) for a in argv])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    return done.returncode, done.stderr

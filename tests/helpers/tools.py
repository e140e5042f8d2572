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

"""User code enters through an installed entry point or --import, never from a config or a run folder: a plugin
dataset runs, its run records it, and a run naming a plugin that is not available is refused in one line."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PLUGIN = '''
from pathlib import Path

import numpy as np
import torch

from segal.data import InMemoryClassification
from segal.registry import DATASETS

Path({marker!r}).write_text("imported")  # proves when the module was imported


@DATASETS.register_module()
class EvenDigits(InMemoryClassification):
    """The even digits only (5 classes), as a team's own dataset would be registered."""

    def __init__(self):
        from sklearn.datasets import load_digits

        digits = load_digits()
        keep = digits.target % 2 == 0
        images = torch.from_numpy(digits.images[keep].astype(np.float32)).unsqueeze(1)
        labels = (digits.target[keep] // 2).astype(np.int64)
        super().__init__(images, labels, np.arange(len(labels)) % 4 == 0, ["0", "2", "4", "6", "8"], 1 / 16,
                         [0.305], [0.376])
'''

CONFIG = """_base_ = [{base!r}]
dataset = dict(_delete_=True, type='EvenDigits')
protocol = dict(initial_size=20, num_steps=1)
loop = dict(progress=False)
train = dict(max_epochs=3)
device = 'cpu'
"""


def _plugin_package(root: Path, marker: Path, entry_point: bool) -> Path:
    """``root/evenplug/__init__.py``, and with ``entry_point`` a ``.dist-info`` declaring it in segal.plugins."""
    (root / "evenplug").mkdir(parents=True)
    (root / "evenplug" / "__init__.py").write_text(PLUGIN.format(marker=str(marker)))
    if entry_point:
        info = root / "evenplug-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: evenplug\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text("[segal.plugins]\nevenplug = evenplug\n")
    return root


def _tool(name, *args, path=None, cwd=REPO):
    env = {**os.environ, "PYTHONPATH": str(path) if path else ""}
    return subprocess.run([sys.executable, str(REPO / "tools" / f"{name}.py"), *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=600)


@pytest.fixture
def project(tmp_path):
    """A team's folder: its config naming the plugin dataset, and the plugin package beside it."""
    config = tmp_path / "even_digits.py"
    config.write_text(CONFIG.format(base=str(REPO / "configs/digits/mlp_entropy_balanced.py")))
    return tmp_path, config


@pytest.mark.slow
@pytest.mark.subprocess
def test_an_entry_point_plugin_dataset_runs_and_its_run_records_it(project):
    root, config = project
    marker = root / "imported.txt"
    path = _plugin_package(root / "site", marker, entry_point=True)
    work = root / "work"
    done = _tool("train", config, "--work-dir", work, path=path)
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert [r["n_labelled"] for r in records] == [20, 22] and len(records[0]["per_class_accuracy"]) == 5
    assert json.loads((work / "plugins.json").read_text()) == {"modules": ["evenplug"]}
    resumed = _tool("train", work / "config.json", "--work-dir", work, "--resume", "--cfg-options",
                    "protocol.num_steps=2", path=path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]

    # the same run where the plugin is not installed: refused in one line, and nothing imported from anywhere
    marker.unlink()
    (work / "evenplug.py").write_text(f"open({str(marker)!r}, 'w').write('from the run folder')\n")
    for name, args in (("train", [work / "config.json", "--work-dir", work, "--resume"]),
                       ("test", [work / "config.json", work / "checkpoints/step_1.pth"])):
        refused = _tool(name, *args, cwd=work)
        assert refused.returncode == 1, refused.stderr[-2000:]
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "was made with plugin module 'evenplug'" in lines[0], refused.stderr
        assert "--import evenplug" in lines[0]
    assert not marker.exists(), "no module was imported from the run folder or the current folder"


@pytest.mark.slow
@pytest.mark.subprocess
def test_import_names_a_plugin_module_and_a_broken_one_is_one_line(project):
    root, config = project
    marker = root / "imported.txt"
    _plugin_package(root, marker, entry_point=False)  # evenplug/ in the team's folder, not installed
    work = root / "work"
    unknown = _tool("train", config, "--work-dir", work, cwd=root)
    assert unknown.returncode == 1 and "unknown dataset type 'EvenDigits'" in unknown.stderr
    assert not marker.exists()
    done = _tool("train", config, "--work-dir", work, "--import", "evenplug", cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    assert marker.exists() and json.loads((work / "plugins.json").read_text()) == {"modules": ["evenplug"]}
    (root / "broken.py").write_text("raise RuntimeError('no GPU driver')\n")
    broken = _tool("train", config, "--work-dir", root / "w2", "--import", "broken", cwd=root)
    lines = broken.stderr.strip().splitlines()
    assert broken.returncode == 1 and len(lines) == 1
    assert "plugin module 'broken' (--import) cannot be imported: RuntimeError: no GPU driver" in lines[0]


@pytest.mark.slow
@pytest.mark.subprocess
def test_grid_workers_import_the_plugins_the_grid_was_given(project):
    root, config = project
    _plugin_package(root, root / "imported.txt", entry_point=False)
    (root / "grid.py").write_text(f"experiment = dict(title='even digits', config={str(config)!r}, "
                                  f"scorers=['entropy'], seeds=[0, 1])\n")
    done = _tool("grid", root / "grid.py", "--workers", "2", "--work-root", root / "runs", "--import", "evenplug",
                 cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    for seed in (0, 1):
        run = root / "runs/grid/entropy" / f"seed{seed}"
        assert json.loads((run / "plugins.json").read_text()) == {"modules": ["evenplug"]}

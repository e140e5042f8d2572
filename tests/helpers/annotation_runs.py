"""A small synthetic-city annotation run with a selection pending annotation, made by the real tools.

A test module builds one run and leaves it as it is; a test that imports
labels writes them into a copy of the dataset. A test that trains the next
step builds a run of its own, since a run is tied to its dataset's path.
"""
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from helpers.tools import load_tool
from segal.data.label_delivery import hold_back_labels
from segal.data.synthetic_city import generate

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs/synthetic_city/deeplabv3plus-r18_holdout-loss-change_annotation.py")


def run_options(root, regions: bool = False) -> list:
    region_options = ["dataset.regions.type=Grid", "dataset.regions.size=32", "scorer.shortlist=4"] if regions else []
    return ["--cfg-options", f"dataset.data_root={root}", "dataset.num_train=20", "dataset.num_val=4",
            "protocol.holdout_size=2", "train.max_epochs=1", "train.batch_size=4", "loop.progress=False",
            "device=cpu", *region_options]


@dataclass
class PendingSelection:
    """A run folder, its dataset and its ``selection_step1.json`` (images pending annotation)."""

    root: Path
    work: Path
    regions: bool = False

    @property
    def selection(self) -> Path:
        return self.work / "selection_step1.json"

    @property
    def state(self) -> Path:
        return self.work / "state.json"

    def options(self) -> list:
        return run_options(self.root, self.regions)

    def dataset_copy(self, folder: Path) -> Path:
        """A private copy of the dataset, for a test that writes labels into it."""
        return Path(shutil.copytree(self.root, folder))


def make_pending_selection(folder: Path, budget: int = 3, regions: bool = False) -> PendingSelection:
    """Trains step 0 of an annotation run on a 20-image synthetic city (8 labelled) and selects ``budget`` images
    (or, with ``regions``, ``budget`` 32x32 grid cells)."""
    root = generate(folder / "city", num_train=20, num_val=4, progress=False)
    hold_back_labels(root, keep=8)
    run = PendingSelection(root, folder / "work", regions)
    load_tool("train").main([CONFIG, "--work-dir", str(run.work), *run.options()])
    unit = ["--unit", "regions"] if regions else []
    load_tool("select").main([CONFIG, str(run.work / "checkpoints/step_0.pth"), "--budget", str(budget), *unit,
                              "--state", str(run.state), *run.options()])
    return run


def run_tool(tool, *args):
    """Runs ``tools/<tool>`` as a user does; fails the test with its error output if it fails."""
    result = subprocess.run([sys.executable, str(REPO / "tools" / tool), *args], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def exported_labelstudio_run(folder: Path, regions: bool = False):
    """``(dataset root, run folder)``: step 0 trained and 3 images (with ``regions``, 6 grid cells) selected with
    ``select.py --export labelstudio``, as a user runs it (the tasks in ``<run>/labelstudio_step1/``)."""
    root = generate(folder / "city", num_train=20, num_val=4, progress=False)
    hold_back_labels(root, keep=8)
    work = folder / "work"
    run_tool("train.py", CONFIG, "--work-dir", str(work), *run_options(root, regions))
    budget = ["--budget", "6", "--unit", "regions"] if regions else ["--budget", "3"]
    run_tool("select.py", CONFIG, str(work / "checkpoints/step_0.pth"), *budget, "--state",
             str(work / "state.json"), "--export", "labelstudio", *run_options(root, regions))
    return root, work

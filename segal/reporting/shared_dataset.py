"""Whether runs read the same data: the dataset keys that differ between two runs, leaving out those that do not
change the data (runtime keys, and the data root of annotation runs whose labels live in their own copy of the
same images), and the report's note on such runs."""
from pathlib import Path
from typing import List, Optional, Sequence

from ..config import IDENTITY_EXCLUDED, config_differences
from ..run_mode import RunMode


def _is_annotation_run(run) -> bool:
    return RunMode.of_config(run.config).labels_from_files


def _image_files(data_root: str) -> Optional[List[str]]:
    """The image files below ``<data_root>/leftImg8bit``, relative, or ``None`` when there is no such folder."""
    folder = Path(data_root) / "leftImg8bit"
    if not folder.is_dir():
        return None
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def labels_only_roots(first, run) -> bool:
    """Whether two annotation runs' data roots differ only because each keeps its annotators' labels there:
    both are annotation runs, and the roots hold the same image files (where they can be listed)."""
    if not (_is_annotation_run(first) and _is_annotation_run(run)):
        return False
    roots = first.config["dataset"].get("data_root"), run.config["dataset"].get("data_root")
    listed = [_image_files(root) for root in roots if isinstance(root, str)]
    return len(listed) == 2 and listed[0] == listed[1]


def dataset_differences(first, run) -> List[str]:
    """Dataset keys in which two runs differ, leaving out those that do not change the data: the keys left out
    of a run's identity, and the data root of annotation runs whose labels live in their own copy of it."""
    differing = [key for key in config_differences(first.config["dataset"], run.config["dataset"])
                 if f"dataset.{key}" not in IDENTITY_EXCLUDED]
    if "data_root" in differing and labels_only_roots(first, run):
        differing.remove("data_root")
    return differing


def data_root_note(runs: Sequence) -> Optional[str]:
    """The report's line on runs read from several data roots (annotation runs with their own labels)."""
    roots = sorted({str(run.config["dataset"].get("data_root")) for run in runs})
    if len(roots) < 2:
        return None
    return (f"**Data roots.** The runs read {len(roots)} data roots ({', '.join(f'`{r}`' for r in roots)}). They "
            f"are annotation runs whose annotators' labels live in their own copy of the same images, and are "
            f"compared as one dataset.")

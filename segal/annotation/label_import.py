"""Finished labels back from an annotation tool: ``tools/import_labels.py``.

Each annotated image of a Label Studio or CVAT export becomes
``gtFine/<split>/<city>/<name>_gtFine_labelIds.png`` (official Cityscapes label
ids, 0 where nothing was labelled), which ``tools/train.py`` reads. Every task
is checked before any file is written; each file is written atomically, and
a file that already holds the same label is left alone, so a rerun changes
nothing.
"""
import logging
import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..config import load_config
from ..data.cityscapes import label_candidates, list_split
from ..data.classification import DatasetFilesNotFound
from ..data.image_files import image_size, read_image_file
from ..engine.run_folder import RunFolder
from ..engine.run_state import RunStateError, restored_pool, restored_regions
from ..errors import InvalidValue
from ..utils.checksums import file_sha256
from ..utils.io import atomic_write_bytes, check_regular_file
from ..utils.progress import Progress
from .cvat import label_ids_of, read_cvat_export
from .export import TOOLS
from .label_scheme import UNLABELLED_ID, LabelScheme, name_key
from .labelstudio import AnnotatedImage, read_labelstudio_export

logger = logging.getLogger("segal")

#: What to do where brush layers of different classes overlap: let the later layer win (it is drawn on top in
#: Label Studio, and a correction painted over a pre-annotation always overlaps it), or refuse the task.
OVERLAP_RULES = ("later", "refuse")
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")  # Label Studio prefixes uploaded file names with a short hash


@dataclass
class ImportReport:
    """What an import did: label files written, already up to date, tasks left for later, and the pixels of
    each task where a later layer covered an earlier one of another class."""

    written: List[Path] = field(default_factory=list)
    unchanged: List[Path] = field(default_factory=list)
    unfinished: List[str] = field(default_factory=list)
    overlaps: Dict[str, int] = field(default_factory=dict)


def merge_layers(annotated: AnnotatedImage, scheme: LabelScheme, overlap: str,
                 overlaps: Optional[Dict[str, int]] = None,
                 size: Optional[Tuple[int, int]] = None) -> Optional[np.ndarray]:
    """``[H, W]`` uint8 label ids from a task's brush layers (``None`` when it has none).

    Where layers of different classes overlap, the later one wins (``overlap='later'``; the covered pixels are
    counted in ``overlaps[task]``) or the task is refused (``overlap='refuse'``).

    Args:
        size: The image's ``(height, width)``: layers of another declared size are refused before decoding.

    Raises:
        InvalidValue: A layer names an unknown class, layers differ in size, or
            (``overlap='refuse'``) layers of different classes overlap.
    """
    label_id_of = scheme.label_id_of()
    merged = None
    for name, mask in annotated.layers(size):
        label_id = label_id_of.get(name_key(name))
        if label_id is None:
            raise InvalidValue(f"{annotated.task}: unknown class name {name!r}; the classes are {list(scheme.names)}")
        if merged is None:
            merged = np.zeros(mask.shape, np.uint8)
        if mask.shape != merged.shape:
            raise InvalidValue(f"{annotated.task}: its {name} layer is {mask.shape[::-1]}, an earlier one "
                               f"{merged.shape[::-1]}")
        clash = mask & (merged != UNLABELLED_ID) & (merged != label_id)
        if clash.any() and overlap == "refuse":
            other = scheme.names[list(scheme.label_ids).index(int(merged[clash][0]))]
            raise InvalidValue(f"{annotated.task}: its {name} and {other} layers overlap on {int(clash.sum())} "
                               f"pixels; erase one in Label Studio, or leave out --overlap refuse to let the later "
                               f"layer win")
        if clash.any() and overlaps is not None:
            overlaps[annotated.task] = overlaps.get(annotated.task, 0) + int(clash.sum())
        merged[mask] = label_id
    return merged


class _SplitImages:
    """The images of ``<data_root>/leftImg8bit/<split>``, found by relative path or file name."""

    def __init__(self, data_root: Path, split: str):
        self.folder = data_root / "leftImg8bit" / split
        try:  # the dataset's own listing, so that image i here is the dataset's id i
            self.images = list_split(data_root, split, require_labels=False)
        except DatasetFilesNotFound:
            raise InvalidValue(f"no images in {self.folder}: --data-root must hold leftImg8bit/{split}/<city>/"
                               f"<name>_leftImg8bit.png (choose the split with --split)") from None
        self.by_name = {image.name: image for image in self.images}
        self.paths = set(self.images)

    def find(self, reference: str) -> Optional[Path]:
        """The image a task or item names: a path ending ``leftImg8bit/<split>/<city>/<file>`` (matched as a
        whole), a file name, or a file stem."""
        parts = Path(reference).parts
        if "leftImg8bit" in parts[:-1]:
            relative = self.folder.parent.joinpath(*parts[len(parts) - 1 - parts[::-1].index("leftImg8bit") + 1:])
            return relative if relative in self.paths else None
        name = Path(reference).name
        for candidate in (name, _UPLOAD_PREFIX.sub("", name)):
            stem = Path(candidate).stem
            stem = stem if stem.endswith("_leftImg8bit") else f"{stem}_leftImg8bit"
            if f"{stem}.png" in self.by_name:
                return self.by_name[f"{stem}.png"]
        return None


def _pending_images(state: Path, split_images: _SplitImages, split: str) -> Tuple[set, bool]:
    """The images that may receive labels: those of the run's annotation step that waits for labels and those of
    earlier steps still without a label file; and whether the run labels regions."""
    folder = RunFolder(state.parent)
    saved = folder.read_state()
    if saved.get("oracle", "simulated") != "annotators":
        raise RunStateError(f"{state} belongs to a simulated run; labels are imported for annotation runs")
    config = state.parent / "config.json"
    pool_split = load_config(str(config)).dataset.get("pool_split", "train") if config.is_file() else "train"
    if pool_split != split:
        raise InvalidValue(f"--split {split}: the run of {state} selects from the {pool_split} split")
    pool = restored_pool(saved)
    run_images = len(pool) - len(pool.test_ids)  # ids run over the pool split's sorted images, then the test split's
    if run_images != len(split_images.images):
        raise InvalidValue(f"{state}: the run has {run_images} images in its {split} split, {split_images.folder} "
                           f"has {len(split_images.images)}; --data-root must be the run's dataset")
    step = saved["completed_step"] + 1
    ids = restored_regions(saved, pool, state).images(step) if "regions" in saved else pool.labelled_ids(step)
    pending = {split_images.images[int(i)] for i in ids}
    # images of earlier steps that trained without their labels (--allow-missing) may still arrive: they count
    # from the next step on, as the loop trains on every selected image whose label file exists
    late = {split_images.images[int(i)] for i in pool.labelled_ids() if int(i) < len(split_images.images)}
    late = {image for image in late - pending if not any(path.is_file() for path in label_candidates(image))}
    return pending | late, "regions" in saved


def _finished_labels(export: Path, source: str, scheme: LabelScheme, overlap: str, report: ImportReport) -> list:
    """``(task or item name, image reference, label ids)`` per finished image of the export, where ``label ids()``
    decodes the ``[H, W]`` map (``None``: nothing labelled)."""
    if source == "labelstudio":
        tasks = read_labelstudio_export(export)
        report.unfinished = [task.task for task in tasks["unfinished"]]
        return [(task.task, task.image_path, partial(merge_layers, task, scheme, overlap, report.overlaps),
                 task.image_digest) for task in tasks["annotated"]]
    return [(f"{export.name}: {name}", stem, lambda size, load=load, names=names, name=name: label_ids_of(
        load(size), names, scheme, f"{export.name}: {name}"), None)
        for name, stem, load, names in read_cvat_export(export)]


def import_labels(export, source: str, data_root, split: str = "train", state: Optional[str] = None,
                  overwrite: bool = False, overlap: str = "later") -> ImportReport:
    """Writes the label files of every finished image of an export.

    Args:
        export: A Label Studio JSON export, or a CVAT export (zip or folder).
        source: ``'labelstudio'`` or ``'cvat'``.
        data_root: The dataset folder (``leftImg8bit/``, ``gtFine/``).
        split: The split the images belong to.
        state: An annotation run's ``state.json``: every image must be pending
            annotation in it. In region mode a label is merged into the image's
            existing label file (newly labelled pixels replace, the rest is kept).
        overwrite: Replace label files that exist and differ.
        overlap: Where brush layers of different classes overlap, let the
            ``'later'`` layer win (counted in the report), or ``'refuse'`` the task.

    Raises:
        InvalidValue: Any check fails; the message names the task or image, and nothing is written.
    """
    if source not in TOOLS:
        raise InvalidValue(f"--from must be one of {TOOLS}, got {source!r}")
    if overlap not in OVERLAP_RULES:
        raise InvalidValue(f"--overlap must be one of {OVERLAP_RULES}, got {overlap!r}")
    export, data_root, report = Path(export), Path(data_root), ImportReport()
    if not export.is_dir() or source != "cvat":
        check_regular_file(export, "export")
    split_images = _SplitImages(data_root, split)
    pending, merge = _pending_images(Path(state), split_images, split) if state is not None else (None, False)
    plan = _ImportPlan(split_images, pending, state, merge, overwrite)
    finished = _finished_labels(export, source, LabelScheme.cityscapes(), overlap, report)
    with Progress(len(finished), "check labels", unit="img") as progress:
        for name, reference, decode, digest in finished:
            plan.add(name, reference, decode, digest)
            progress.update(1)
    _write_labels(plan.labels, report)
    return report


@dataclass
class _ImportPlan:
    """The labels to write, each added after every check on its task or item."""

    split_images: "_SplitImages"
    pending: Optional[set]
    state: Optional[str]
    merge: bool
    overwrite: bool
    labels: Dict[Path, np.ndarray] = field(default_factory=dict)

    def add(self, name: str, reference: str, decode: Callable[[Tuple[int, int]], Optional[np.ndarray]],
            digest: Optional[str] = None) -> None:
        """Checks one finished task or item and plans its label file.

        Args:
            name: How messages name the task or item.
            reference: The image it names.
            decode: ``decode((height, width))`` gives its ``[H, W]`` label ids, refusing another size before
                decoding.
            digest: The SHA-256 of the image file the task was made for (exports record it), if known.
        """
        image = self.split_images.find(reference)
        if image is None:
            raise InvalidValue(f"{name}: image {reference} is not in {self.split_images.folder}")
        if digest is not None and file_sha256(image) != digest:
            raise InvalidValue(f"{name}: {image} is not the image the task was exported for (its SHA-256 "
                               f"differs); --data-root must be the dataset the selection was made on")
        if self.pending is not None and image not in self.pending:
            raise InvalidValue(f"{name}: image {image.name} is not pending annotation in {self.state}")
        if image in self.labels:
            raise InvalidValue(f"{name}: image {image.name} appears twice in the export")
        width, height = image_size(image)
        label_ids = decode((height, width))
        if label_ids is None:
            label_ids = np.zeros((height, width), np.uint8)
        if label_ids.shape != (height, width):
            raise InvalidValue(f"{name}: its label is {label_ids.shape[1]}x{label_ids.shape[0]}, image "
                               f"{image.name} {width}x{height}")
        if not label_ids.any():
            logger.warning("%s: image %s has no labelled pixel (all void)", name, image.name)
        self.labels[image] = _final_label(name, image, label_ids, self.merge, self.overwrite)


def _write_labels(planned: Dict[Path, np.ndarray], report: ImportReport) -> None:
    """Writes each image's ``gtFine_labelIds`` file atomically, leaving files that hold the same label alone."""
    for image, label_ids in planned.items():
        train_ids, target = label_candidates(image)
        for stale in target.parent.glob(f".{target.name}.*.tmp"):  # left by an import killed mid-write
            stale.unlink()
        same = target.is_file() and np.array_equal(read_image_file(target, cv2.IMREAD_UNCHANGED), label_ids)
        if not same:
            atomic_write_bytes(target, cv2.imencode(".png", label_ids)[1].tobytes())
        (report.unchanged if same and not train_ids.is_file() else report.written).append(target)
        if train_ids.is_file():  # _final_label allowed it: --overwrite was given; the dataset reads it first
            train_ids.unlink()


def _final_label(name: str, image: Path, label_ids: np.ndarray, merge: bool, overwrite: bool) -> np.ndarray:
    """The label to write for ``image``: checked against its existing label file, merged in region mode."""
    train_ids, target = label_candidates(image)
    if train_ids.is_file() and not overwrite:
        raise InvalidValue(f"{name}: {image.name} already has a label, {train_ids}; pass --overwrite to replace it")
    if not target.is_file() or overwrite:
        return label_ids
    existing = read_image_file(target, cv2.IMREAD_UNCHANGED)
    if merge and existing.shape == label_ids.shape and existing.dtype == np.uint8:
        return np.where(label_ids != UNLABELLED_ID, label_ids, existing).astype(np.uint8)
    if np.array_equal(existing, label_ids):
        return label_ids
    raise InvalidValue(f"{name}: {image.name} already has a label, {target}; pass --overwrite to replace it")

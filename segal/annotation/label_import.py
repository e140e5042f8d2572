"""Finished labels back from an annotation tool: ``tools/import_labels.py``.

Each annotated image of a Label Studio or CVAT export becomes
``gtFine/<split>/<city>/<name>_gtFine_labelIds.png`` (official Cityscapes label
ids, 0 where nothing was labelled), which ``tools/train.py`` reads. Every task
is checked before any file is written; each file is written atomically, and
a file that already holds the same label is left alone, so a rerun changes
nothing.
"""
import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import cv2
import numpy as np

from ..data.annotation_times import AnnotationTimes
from ..data.image_files import image_size, read_image_file
from ..data.region_pool import RegionLabels
from ..engine.run_folder import RunFolder
from ..engine.run_state import RunStateError, restored_pool, restored_regions
from ..errors import InvalidValue
from ..run_mode import RunMode
from ..utils.checksums import file_sha256
from ..utils.io import atomic_write_bytes, check_regular_file
from ..utils.progress import Progress
from ..utils.run_paths import RunPaths
from .agreement import agreement
from .cvat import label_ids_of, read_cvat_export
from .dataset_images import DatasetImages, import_dataset
from .export import TOOLS
from .label_scheme import LabelScheme, name_key
from .labelstudio import AnnotatedImage, read_labelstudio_export

logger = logging.getLogger("segal")

#: What to do where brush layers of different classes overlap: let the later layer win (it is drawn on top in
#: Label Studio, and a correction painted over a pre-annotation always overlaps it), or refuse the task.
OVERLAP_RULES = ("later", "refuse")
#: Which annotation of a Label Studio task counts (:func:`import_labels`'s ``take``).
TAKE_RULES = ("latest", "ground_truth")


@dataclass
class ImportReport:
    """What an import did: label files written, already up to date, tasks left for later, the pixels of each task
    where a later layer covered an earlier one of another class, (region mode) the pixels of each task painted
    outside its regions to label, left out, and the agreement of the tasks several annotators labelled, with those
    left out for disagreeing."""

    written: List[Path] = field(default_factory=list)
    unchanged: List[Path] = field(default_factory=list)
    unfinished: List[str] = field(default_factory=list)
    overlaps: Dict[str, int] = field(default_factory=dict)
    clipped: Dict[str, int] = field(default_factory=dict)
    agreement: Dict[str, float] = field(default_factory=dict)
    flagged: List[str] = field(default_factory=list)


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
            merged = np.full(mask.shape, scheme.unlabelled, np.uint8)
        if mask.shape != merged.shape:
            raise InvalidValue(f"{annotated.task}: its {name} layer is {mask.shape[::-1]}, an earlier one "
                               f"{merged.shape[::-1]}")
        clash = mask & (merged != scheme.unlabelled) & (merged != label_id)
        if clash.any() and overlap == "refuse":
            other = scheme.names[list(scheme.label_ids).index(int(merged[clash][0]))]
            raise InvalidValue(f"{annotated.task}: its {name} and {other} layers overlap on {int(clash.sum())} "
                               f"pixels; erase one in Label Studio, or leave out --overlap refuse to let the later "
                               f"layer win")
        if clash.any() and overlaps is not None:
            overlaps[annotated.task] = overlaps.get(annotated.task, 0) + int(clash.sum())
        merged[mask] = label_id
    return merged


class _LabelFiles:
    """A dataset's label files as the import reads and writes them, in the values of its :class:`LabelScheme`:
    Cityscapes' official label ids as they are, any other dataset's class indices through its encoding."""

    def __init__(self, dataset, scheme: LabelScheme):
        self.dataset, self.scheme = dataset, scheme

    def target(self, idx: int) -> Path:
        return self.dataset.expected_label_path(idx)

    def others(self, idx: int) -> List[Path]:
        """Label files the dataset reads before the target (Cityscapes' train-id files)."""
        return [path for path in self.dataset.label_candidates(idx)[:-1] if path.is_file()]

    def read(self, path: Path) -> np.ndarray:
        if self.scheme.is_cityscapes:
            return read_image_file(path, cv2.IMREAD_UNCHANGED)
        return self.dataset.read_label(path)

    def file_bytes(self, values: np.ndarray) -> bytes:
        if self.scheme.is_cityscapes:
            return cv2.imencode(".png", values)[1].tobytes()
        return self.dataset.label_file_bytes(values)


def _pending_images(state: Path, images: DatasetImages) -> Tuple[set, Optional[RegionLabels]]:
    """The global ids that may receive labels: those of the run's annotation step that waits for labels and those
    of earlier steps still without a label file; and the run's region labels if it labels regions."""
    folder = RunFolder(state.parent)
    saved = folder.read_state()
    if not RunMode.of_state(saved).labels_from_files:
        raise RunStateError(f"{state} belongs to a simulated run; labels are imported for annotation runs")
    pool = restored_pool(saved)
    run_images = len(pool) - len(pool.test_ids)  # ids run over the pool split's sorted images, then the test split's
    if run_images != images.count:
        raise InvalidValue(f"{state}: the run has {run_images} images in its pool split, {images.folder} "
                           f"has {images.count}; --data-root must be the run's dataset")
    step = saved["completed_step"] + 1
    regions = RunMode.of_state(saved).regions
    region_labels = restored_regions(saved, pool, state) if regions else None
    ids = region_labels.images(step) if regions else pool.labelled_ids(step)
    pending = {int(i) for i in ids}
    # images of earlier steps that trained without their labels (--allow-missing) may still arrive: they count
    # from the next step on, as the loop trains on every selected image whose label file exists
    late = {int(i) for i in pool.labelled_ids() if int(i) < run_images} - pending
    late = {i for i in late if images.dataset.label_path(i) is None}
    return pending | late, region_labels


class Finished(NamedTuple):
    """A finished image of an export: the task or item, the image it names, and how to decode its labels."""

    name: str
    reference: str
    decode: Callable[[Tuple[int, int]], Optional[np.ndarray]]  # (height, width) -> [H, W] label values or None
    digest: Optional[str] = None  # the SHA-256 of the image file the task was exported for
    seconds: Optional[float] = None  # the annotator's time (Label Studio's lead_time)
    others: tuple = ()  # decoders of the other annotators' labels of the same task


def _finished_labels(export: Path, source: str, scheme: LabelScheme, overlap: str, report: ImportReport,
                     take: str) -> List[Finished]:
    """Every finished image of the export (``take``: which annotation of a Label Studio task counts)."""
    if source == "labelstudio":
        tasks = read_labelstudio_export(export, take)
        report.unfinished = [task.task for task in tasks["unfinished"]]
        return [Finished(task.task, task.image_path, partial(merge_layers, task, scheme, overlap, report.overlaps),
                         task.image_digest, task.lead_time,
                         tuple(partial(merge_layers, AnnotatedImage(task.task, task.image_path, results), scheme,
                                       "later", {}) for results in task.others))
                for task in tasks["annotated"]]
    return [Finished(f"{export.name}: {name}", stem, lambda size, load=load, names=names, name=name: label_ids_of(
        load(size), names, scheme, f"{export.name}: {name}")) for name, stem, load, names in read_cvat_export(export)]


def import_labels(export, source: str, data_root=None, split: str = "train", state: Optional[str] = None,
                  overwrite: bool = False, overlap: str = "later", config: Optional[str] = None,
                  cfg_options: Optional[dict] = None, take: str = "latest",
                  min_agreement: Optional[float] = None) -> ImportReport:
    """Writes the label files of every finished image of an export, in the dataset's own encoding and folders.

    Args:
        export: A Label Studio JSON export, or a CVAT export (zip or folder).
        source: ``'labelstudio'`` or ``'cvat'``.
        data_root: The dataset folder; overrides the config's.
        split: The Cityscapes split the images belong to (without a config).
        state: An annotation run's ``state.json``: every image must be pending
            annotation in it. In region mode a label is merged into the image's
            existing label file (newly labelled pixels replace, the rest is kept).
            Its ``config.json`` names the dataset unless ``config`` does.
        overwrite: Replace label files that exist and differ.
        overlap: Where brush layers of different classes overlap, let the
            ``'later'`` layer win (counted in the report), or ``'refuse'`` the task.
        config: A config naming the dataset (any ``SegmentationFolder``, or a Cityscapes preset).
        cfg_options: Overrides of ``config``.
        take: Which annotation of a Label Studio task counts: ``'latest'`` finished, or ``'ground_truth'``
            (the latest marked ground truth, as a reviewer does; tasks without one wait).
        min_agreement: Where several annotators labelled a task, leave it out when their agreement (mean
            pairwise IoU, :mod:`.agreement`) is below this; every such task's agreement is reported.

    Raises:
        InvalidValue: Any check fails; the message names the task or image, and nothing is written.
    """
    if source not in TOOLS:
        raise InvalidValue(f"--from must be one of {TOOLS}, got {source!r}")
    if take not in TAKE_RULES:
        raise InvalidValue(f"--take must be one of {TAKE_RULES}, got {take!r}")
    if overlap not in OVERLAP_RULES:
        raise InvalidValue(f"--overlap must be one of {OVERLAP_RULES}, got {overlap!r}")
    export, report = Path(export), ImportReport()
    if not export.is_dir() or source != "cvat":
        check_regular_file(export, "export")
    dataset = import_dataset(data_root, split, state, config, cfg_options)
    images, scheme = DatasetImages(dataset), LabelScheme.of_dataset(dataset)
    pending, regions = _pending_images(Path(state), images) if state is not None else (None, None)
    plan = _ImportPlan(images, _LabelFiles(dataset, scheme), pending, state, regions, overwrite, report)
    plan.min_agreement = min_agreement
    finished = _finished_labels(export, source, scheme, overlap, report, take)
    with Progress(len(finished), "check labels", unit="img") as progress:
        for task in finished:
            if plan.add(task) and task.seconds is not None:
                plan.times[plan.images.relative(task.reference)] = task.seconds
            progress.update(1)
    _write_labels(plan, report)
    if state is not None:
        AnnotationTimes(RunPaths(Path(state).parent).annotation_times_path).record(plan.times)
    return report


@dataclass
class _ImportPlan:
    """The labels to write, each added after every check on its task or item."""

    images: DatasetImages
    files: _LabelFiles
    pending: Optional[set]
    state: Optional[str]
    regions: Optional[RegionLabels]  # region mode: what each image's annotators were asked to label
    overwrite: bool
    report: ImportReport
    labels: Dict[int, np.ndarray] = field(default_factory=dict)
    unchanged: set = field(default_factory=set)  # ids whose target file already holds their label
    times: Dict[str, float] = field(default_factory=dict)  # annotators' seconds by image path below the data root
    min_agreement: Optional[float] = None

    def add(self, task: Finished) -> bool:
        """Checks one finished task or item and plans its label file; returns ``False`` for a task left out
        because its annotators disagree (below ``min_agreement``)."""
        name, reference = task.name, task.reference
        idx = self.images.find(reference)
        if idx is None:
            raise InvalidValue(f"{name}: image {reference} is not in {self.images.folder}")
        image = Path(self.images.dataset.image_path(idx))
        if task.digest is not None and file_sha256(image) != task.digest:
            raise InvalidValue(f"{name}: {image} is not the image the task was exported for (its SHA-256 "
                               f"differs); --data-root must be the dataset the selection was made on")
        if self.pending is not None and idx not in self.pending:
            raise InvalidValue(f"{name}: image {image.name} is not pending annotation in {self.state}")
        if idx in self.labels:
            raise InvalidValue(f"{name}: image {image.name} appears twice in the export")
        width, height = image_size(image)
        values = self._decoded(task.decode, (height, width))
        if task.others and not self._agreed(name, [values] + [self._decoded(d, (height, width)) for d in task.others]):
            return False
        if values.shape != (height, width):
            raise InvalidValue(f"{name}: its label is {values.shape[1]}x{values.shape[0]}, image "
                               f"{image.name} {width}x{height}")
        if self.regions is not None:
            values = self._clipped(name, idx, values)
        if (values == self.files.scheme.unlabelled).all():
            logger.warning("%s: image %s has no labelled pixel (all void)", name, image.name)
        self.labels[idx] = self._final(name, idx, image, values)
        return True

    def _decoded(self, decode, size: Tuple[int, int]) -> np.ndarray:
        values = decode(size)
        return np.full(size, self.files.scheme.unlabelled, np.uint8) if values is None else values

    def _agreed(self, name: str, maps: List[np.ndarray]) -> bool:
        """Records the annotators' agreement on a task; ``False`` (and flagged) below ``min_agreement``."""
        self.report.agreement[name] = agreement(maps, self.files.scheme.unlabelled)
        if self.min_agreement is not None and self.report.agreement[name] < self.min_agreement:
            self.report.flagged.append(name)
            return False
        return True

    def _clipped(self, name: str, idx: int, values: np.ndarray) -> np.ndarray:
        """Region mode: ``values`` inside the regions the image's annotators were asked to label; the pixels
        painted outside them are counted in the report."""
        inside = np.isin(self.images.dataset.region_map(idx), self.regions.labelled(idx))
        outside = int(((values != self.files.scheme.unlabelled) & ~inside).sum())
        if outside:
            self.report.clipped[name] = outside
        return np.where(inside, values, self.files.scheme.unlabelled).astype(np.uint8)

    def _final(self, name: str, idx: int, image: Path, values: np.ndarray) -> np.ndarray:
        """The label to write: checked against the image's existing label files, merged in region mode."""
        target, others = self.files.target(idx), self.files.others(idx)
        if others and not self.overwrite:
            raise InvalidValue(f"{name}: {image.name} already has a label, {others[0]}; pass --overwrite to "
                               f"replace it")
        if not target.is_file():
            return values
        existing = self.files.read(target)
        merged = (self.regions is not None and not self.overwrite and existing.shape == values.shape
                  and existing.dtype == np.uint8)
        if merged:  # region mode: the new pixels join the partial label of earlier steps
            values = np.where(values != self.files.scheme.unlabelled, values, existing).astype(np.uint8)
        if np.array_equal(existing, values):
            self.unchanged.add(idx)
        elif not (merged or self.overwrite):
            raise InvalidValue(f"{name}: {image.name} already has a label, {target}; pass --overwrite to "
                               f"replace it")
        return values


def _write_labels(plan: _ImportPlan, report: ImportReport) -> None:
    """Writes each image's label file atomically in the dataset's encoding, leaving files that hold the same
    label alone."""
    for idx, values in plan.labels.items():
        target, others = plan.files.target(idx), plan.files.others(idx)
        for stale in target.parent.glob(f".{target.name}.*.tmp"):  # left by an import killed mid-write
            stale.unlink()
        same = idx in plan.unchanged
        if not same:
            atomic_write_bytes(target, plan.files.file_bytes(values))
        (report.unchanged if same and not others else report.written).append(target)
        for other in others:  # _final allowed it: --overwrite was given; the dataset reads those first
            other.unlink()

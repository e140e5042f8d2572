"""Cityscapes in its official folder layout, with labels mapped to the 19 train ids.

Layout under ``data_root``::

    leftImg8bit/<split>/<city>/<name>_leftImg8bit.png
    gtFine/<split>/<city>/<name>_gtFine_labelIds.png        (official label ids)
    gtFine/<split>/<city>/<name>_gtFine_labelTrainIds.png   (optional, from data_prep/cityscapes.py)

``labelTrainIds`` files are read where they exist; otherwise ``labelIds`` are
mapped through ``cityscapesscripts.helpers.labels``. Everything outside the 19
evaluated classes becomes the ignore index 255.

Global ids run over the sorted images of ``pool_split`` and then of
``test_split``, so an id names the same image in every run.
"""
import logging
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
from cityscapesscripts.helpers.labels import labels as CITYSCAPES_LABELS

from ..errors import InvalidValue
from ..registry import DATASETS
from .classification import DatasetFilesNotFound
from .costs import image_clicks
from .label_encoding import LabelEncoding
from .segmentation_folder import LabelSource, SegmentationFolder, SplitFolders, list_images, read_label_file

logger = logging.getLogger("segal")

IGNORE_INDEX = 255
TRAIN_CLASSES = [label.name for label in sorted(CITYSCAPES_LABELS, key=lambda label: label.trainId)
                 if 0 <= label.trainId < 255]


def label_id_to_train_id() -> np.ndarray:
    """``[256]`` lookup table: Cityscapes label id -> train id (255 for ignored ids and non-ids)."""
    table = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for label in CITYSCAPES_LABELS:
        if label.id >= 0:
            table[label.id] = label.trainId if 0 <= label.trainId < 255 else IGNORE_INDEX
    return table


VALID_LABEL_IDS = np.array(sorted(label.id for label in CITYSCAPES_LABELS if label.id >= 0))
LABEL_ID_TO_TRAIN_ID = label_id_to_train_id()

#: The label files a Cityscapes image may have, in the order they are read: train ids (written by
#: ``data_prep/cityscapes.py``), then the official label ids (what annotators and ``import_labels.py`` write).
LABEL_SOURCES = [
    LabelSource("_gtFine_labelTrainIds.png", LabelEncoding("index", len(TRAIN_CLASSES), IGNORE_INDEX)),
    LabelSource("_gtFine_labelIds.png", LabelEncoding("label_map", len(TRAIN_CLASSES), IGNORE_INDEX,
                                                      table=LABEL_ID_TO_TRAIN_ID, known=VALID_LABEL_IDS)),
]
IMAGE_SUFFIX = "_leftImg8bit.png"
#: The 19 train classes' official colours.
TRAIN_PALETTE = [tuple(label.color) for label in sorted(CITYSCAPES_LABELS, key=lambda label: label.trainId)
                 if 0 <= label.trainId < 255]


def _split_folders(split: str) -> SplitFolders:
    return SplitFolders(f"leftImg8bit/{split}", f"gtFine/{split}")


def read_train_ids(path: Path) -> np.ndarray:
    """Reads a ``*_labelIds.png`` or ``*_labelTrainIds.png`` file as train ids ``[H, W]`` uint8.

    Raises:
        LabelError: the file is unreadable or holds a value that is not a
            Cityscapes label id (or train id, for ``labelTrainIds``).
    """
    return read_label_file(Path(path), LABEL_SOURCES)


def label_candidates(image: Path) -> List[Path]:
    """Where the label of a ``leftImg8bit`` image may be: ``labelTrainIds`` first, then ``labelIds``."""
    stem = image.name[: -len(IMAGE_SUFFIX)]
    label_dir = image.parents[3] / "gtFine" / image.parent.parent.name / image.parent.name
    return [label_dir / f"{stem}{source.suffix}" for source in LABEL_SOURCES]


def find_label(image: Path) -> Optional[Path]:
    """The label file of ``image``, or ``None`` when it has none (yet)."""
    return next((path for path in label_candidates(image) if path.is_file()), None)


def list_split(root: Path, split: str, require_labels: bool = True) -> List[Path]:
    """Sorted image paths of one split.

    Raises:
        DatasetFilesNotFound: the split's image folder is missing or empty, or
            (with ``require_labels``) an image has no label file.
    """
    images = list_images(Path(root), _split_folders(split), IMAGE_SUFFIX, "Cityscapes")
    if require_labels:
        for image in images:
            if find_label(image) is None:
                raise DatasetFilesNotFound(f"image {image} has no label: expected {label_candidates(image)[1]}")
    return images


@DATASETS.register_module()
class Cityscapes(SegmentationFolder):
    """Cityscapes semantic segmentation, 19 classes, ignore index 255: a preset of
    :class:`~segal.data.segmentation_folder.SegmentationFolder` for the official layout.

    Args:
        data_root: Folder holding ``leftImg8bit/`` and ``gtFine/``.
        pool_split: Official split the initial set, holdout and pool come from.
        test_split: Official split evaluated as the test set (``val``: Cityscapes'
            test labels are not public).
        train_pipeline: albumentations steps for training (see :mod:`segal.data.transforms`).
        test_pipeline: albumentations steps for evaluation and scoring; empty
            means full resolution.
        require_labels: Every image must have a label file (benchmarks). Set
            it to ``False`` for real annotation work, where pool images get
            their labels as annotators finish them.
        regions: ``None`` (annotation by image), or how images are cut into the
            regions an annotator labels with one click:
            ``dict(type='SLIC', n_segments=N, compactness=C)`` or
            ``dict(type='Grid', size=S)`` (:class:`~segal.data.regions.RegionSpec`).
    """

    #: Imported labels are written in Cityscapes' official label ids (:mod:`segal.annotation.label_scheme`).
    speaks_cityscapes_ids = True
    classes = TRAIN_CLASSES  # also on the class: tools that read images outside a dataset (--pool) name them

    def __init__(
        self,
        data_root: str,
        pool_split: str = "train",
        test_split: Optional[str] = "val",
        train_pipeline: Optional[Sequence[dict]] = None,
        test_pipeline: Optional[Sequence[dict]] = None,
        require_labels: bool = True,
        regions: Optional[dict] = None,
    ):
        self.classes, self.palette, self.ignore_index = list(TRAIN_CLASSES), list(TRAIN_PALETTE), IGNORE_INDEX
        test = None if test_split is None else _split_folders(test_split)  # None: the pool split only
        self._setup(Path(data_root), {"pool": _split_folders(pool_split), "test": test},
                    IMAGE_SUFFIX, LABEL_SOURCES, train_pipeline, test_pipeline, require_labels, regions)

    def clicks(self, idx: int) -> Tuple[int, str]:
        """``(clicks, cost model)`` to annotate a global id whole with polygons: the vertices of its
        ``gtFine_polygons.json`` where it has one (:func:`~segal.data.costs.image_clicks`)."""
        return image_clicks(self.images[idx], lambda: self.read(idx)[1])


@DATASETS.register_module()
class SyntheticCity(Cityscapes):
    """The synthetic street scenes of :mod:`segal.data.synthetic_city`, generated when asked.

    If ``data_root`` holds no generated dataset, it is generated there with the
    given options when ``generate=True`` (``--cfg-options dataset.generate=True``,
    or ``python data_prep/synthetic_city.py ROOT`` beforehand); otherwise the
    missing folder is named, so a mistyped ``data_root`` never trains on a new
    dataset. If it holds one made with other options, that is an error (delete
    the folder or choose another ``data_root``).

    Args:
        data_root: Where the dataset is (or will be) written.
        num_train: Images in the ``train`` split (initial set, holdout and pool).
        num_val: Images in the ``val`` split (the test set).
        height: Image height in pixels.
        width: Image width in pixels.
        seed: Generation seed.
        workers: Processes used for generation.
        generate: Generate the dataset into ``data_root`` if it is not there.
        **kwargs: Pipelines, as for :class:`Cityscapes`.

    Raises:
        DatasetFilesNotFound: ``data_root`` holds no synthetic city and ``generate`` is off.
    """

    def __init__(self, data_root: str = "data/synthetic_city", num_train: int = 200, num_val: int = 50,
                 height: int = 64, width: int = 128, seed: int = 0, workers: int = 2, generate: bool = False,
                 **kwargs):
        from . import synthetic_city

        options = dict(num_train=num_train, num_val=num_val, height=height, width=width, seed=seed)
        found = synthetic_city.read_options(data_root)
        if not found and not generate:
            raise DatasetFilesNotFound(
                f"SyntheticCity: no generated dataset in {Path(data_root).resolve()} (dataset.data_root); generate "
                f"it with python data_prep/synthetic_city.py {data_root}, or pass --cfg-options "
                f"dataset.generate=True")
        if not found:
            logger.info("generating the synthetic city in %s (dataset.data_root)",
                        Path(data_root).resolve())
            synthetic_city.generate(data_root, workers=workers, **options)
        elif found != options:
            raise InvalidValue(
                f"{data_root} holds a synthetic city generated with {found}, not {options}; "
                f"delete it or set dataset.data_root to another folder"
            )
        super().__init__(data_root, pool_split="train", test_split="val", **kwargs)

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

import cv2
import numpy as np
import torch
from cityscapesscripts.helpers.labels import labels as CITYSCAPES_LABELS
from torch.utils.data import Dataset

from ..errors import InvalidValue, SegalError
from ..registry import DATASETS
from .classification import DatasetFilesNotFound
from .costs import image_clicks
from .image_files import ImageFileError, image_size, read_image_file
from .regions import RegionMaps, RegionSpec
from .transforms import build_pipeline

logger = logging.getLogger("segal")

IGNORE_INDEX = 255
TRAIN_CLASSES = [label.name for label in sorted(CITYSCAPES_LABELS, key=lambda label: label.trainId)
                 if 0 <= label.trainId < 255]
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255


class LabelError(SegalError, ValueError):
    """A label file is missing, unreadable or holds values that are not Cityscapes ids."""


def label_id_to_train_id() -> np.ndarray:
    """``[256]`` lookup table: Cityscapes label id -> train id (255 for ignored ids and non-ids)."""
    table = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for label in CITYSCAPES_LABELS:
        if label.id >= 0:
            table[label.id] = label.trainId if 0 <= label.trainId < 255 else IGNORE_INDEX
    return table


VALID_LABEL_IDS = np.array(sorted(label.id for label in CITYSCAPES_LABELS if label.id >= 0))
VALID_TRAIN_IDS = np.array(list(range(len(TRAIN_CLASSES))) + [IGNORE_INDEX])
LABEL_ID_TO_TRAIN_ID = label_id_to_train_id()


def read_train_ids(path: Path) -> np.ndarray:
    """Reads a ``*_labelIds.png`` or ``*_labelTrainIds.png`` file as train ids ``[H, W]`` uint8.

    Raises:
        LabelError: the file is unreadable or holds a value that is not a
            Cityscapes label id (or train id, for ``labelTrainIds``).
    """
    try:
        raw = read_image_file(path, cv2.IMREAD_UNCHANGED)
    except ImageFileError as err:
        raise LabelError(f"label file: {err}") from None
    if raw.ndim != 2 or raw.dtype != np.uint8:
        raise LabelError(f"label file {path} is {raw.dtype} of shape {raw.shape}; expected a single-channel 8-bit "
                         f"id image")
    train_ids = path.name.endswith("_labelTrainIds.png")
    valid = VALID_TRAIN_IDS if train_ids else VALID_LABEL_IDS
    present = np.flatnonzero(np.bincount(raw.ravel(), minlength=256))
    bad = present[~np.isin(present, valid)]
    if len(bad):
        kind = "train id" if train_ids else "Cityscapes label id"
        raise LabelError(f"label file {path} holds values that are no {kind}: {bad[:10].tolist()}")
    return raw.astype(np.uint8) if train_ids else LABEL_ID_TO_TRAIN_ID[raw]


def to_input(image: np.ndarray) -> torch.Tensor:
    """``[H, W, 3]`` uint8 RGB -> ``[3, H, W]`` float32, normalised with ImageNet statistics."""
    inputs = (image.astype(np.float32) - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(inputs.transpose(2, 0, 1)))


def label_candidates(image: Path) -> List[Path]:
    """Where the label of a ``leftImg8bit`` image may be: ``labelTrainIds`` first, then ``labelIds``."""
    stem = image.name[: -len("_leftImg8bit.png")]
    label_dir = image.parents[3] / "gtFine" / image.parent.parent.name / image.parent.name
    return [label_dir / f"{stem}_gtFine_labelTrainIds.png", label_dir / f"{stem}_gtFine_labelIds.png"]


def find_label(image: Path) -> Optional[Path]:
    """The label file of ``image``, or ``None`` when it has none (yet)."""
    return next((path for path in label_candidates(image) if path.is_file()), None)


def list_split(root: Path, split: str, require_labels: bool = True) -> List[Path]:
    """Sorted image paths of one split.

    Raises:
        DatasetFilesNotFound: the split's image folder is missing or empty, or
            (with ``require_labels``) an image has no label file.
    """
    image_dir = root / "leftImg8bit" / split
    images = sorted(image_dir.glob("*/*_leftImg8bit.png"))
    if not images:
        raise DatasetFilesNotFound(
            f"no images in {image_dir}: expected {image_dir}/<city>/<name>_leftImg8bit.png with labels in "
            f"{root / 'gtFine' / split}/<city>/<name>_gtFine_labelIds.png. Set dataset.data_root to your "
            f"Cityscapes folder."
        )
    if require_labels:
        for image in images:
            if find_label(image) is None:
                raise DatasetFilesNotFound(f"image {image} has no label: expected {label_candidates(image)[1]}")
    return images


@DATASETS.register_module()
class Cityscapes(Dataset):
    """Cityscapes semantic segmentation, 19 classes, ignore index 255.

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

    task = "segmentation"
    ignore_index = IGNORE_INDEX
    classes = TRAIN_CLASSES

    def __init__(
        self,
        data_root: str,
        pool_split: str = "train",
        test_split: str = "val",
        train_pipeline: Optional[Sequence[dict]] = None,
        test_pipeline: Optional[Sequence[dict]] = None,
        require_labels: bool = True,
        regions: Optional[dict] = None,
    ):
        self.data_root = Path(data_root)
        pool_images = list_split(self.data_root, pool_split, require_labels)
        test_images = list_split(self.data_root, test_split, require_labels)
        self.images = pool_images + test_images
        self.is_test = np.array([False] * len(pool_images) + [True] * len(test_images))
        self.train_transform = build_pipeline(train_pipeline, "dataset.train_pipeline")
        self.test_transform = build_pipeline(test_pipeline, "dataset.test_pipeline")
        self.regions = None
        if regions is not None:
            self.regions = RegionMaps(RegionSpec.from_config(regions), self.data_root, self.image_path,
                                      self.read_image, lambda idx: image_size(self.images[idx])[::-1])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def region_map(self, idx: int) -> np.ndarray:
        """``[H, W]`` int64 region ids of a global id at the label's resolution (``dataset.regions`` set)."""
        if self.regions is None:
            raise InvalidValue("region selection needs dataset.regions, e.g. dict(type='SLIC', n_segments=2000)")
        return self.regions(idx)

    def clicks(self, idx: int) -> Tuple[int, str]:
        """``(clicks, cost model)`` to annotate a global id whole with polygons
        (:func:`~segal.data.costs.image_clicks`)."""
        return image_clicks(self.images[idx], lambda: self.read(idx)[1])

    @property
    def input_shape(self) -> tuple:
        """``(C, H, W)``; only the channel count is fixed."""
        return (3, None, None)

    def __len__(self) -> int:
        return len(self.images)

    def image_path(self, idx: int) -> Path:
        return self.images[idx]

    def expected_label_path(self, idx: int) -> Path:
        """Where an annotator writes the label of a global id: its ``gtFine_labelIds`` file (official ids)."""
        return label_candidates(self.images[idx])[1]

    def label_path(self, idx: int) -> Optional[Path]:
        """The label file of a global id as it is on disk now, or ``None``."""
        return find_label(self.images[idx])

    def has_label(self, ids: Sequence[int]) -> np.ndarray:
        """``[len(ids)]`` bool: which ids have a label file now."""
        return np.array([self.label_path(int(i)) is not None for i in ids], dtype=bool)

    def read_image(self, idx: int) -> np.ndarray:
        """The raw image ``[H, W, 3]`` uint8 RGB of a global id."""
        return cv2.cvtColor(read_image_file(self.images[idx]), cv2.COLOR_BGR2RGB)

    def read(self, idx: int):
        """The raw image ``[H, W, 3]`` uint8 (RGB) and train-id label ``[H, W]`` uint8 of a global id."""
        image_path = self.images[idx]
        label_path = self.label_path(idx)
        if label_path is None:
            raise LabelError(f"image {image_path} has no label yet: expected {label_candidates(image_path)[1]}")
        image = self.read_image(idx)
        label = read_train_ids(label_path)
        if image.shape[:2] != label.shape:
            raise LabelError(
                f"image {image_path} is {image.shape[1]}x{image.shape[0]} but its label {label_path} is "
                f"{label.shape[1]}x{label.shape[0]}"
            )
        return image, label

    def load(self, idx: int, train: bool = False, with_target: bool = True) -> dict:
        """``dict(inputs [3, H, W] float, target [H, W] int64, id)`` through the train or test pipeline.

        Without ``with_target`` the label is not read (nor required) and the dict has no ``target``.
        """
        if not with_target:
            image = self.read_image(idx)
            if self.test_transform is not None and not train:
                image = self.test_transform(image=image)["image"]
            return {"inputs": to_input(image), "id": idx}
        image, label = self.read(idx)
        return self.transformed(image, label, idx, train)

    def transformed(self, image: np.ndarray, label: np.ndarray, idx: int, train: bool = False) -> dict:
        """A sample dict from a raw image and a train-id label, through the train or test pipeline."""
        transform = self.train_transform if train else self.test_transform
        if transform is not None:
            out = transform(image=image, mask=label)
            image, label = out["image"], out["mask"]
        return {"inputs": to_input(image), "target": torch.from_numpy(label.astype(np.int64)), "id": idx}

    def __getitem__(self, idx: int) -> dict:
        return self.load(idx, train=False)

    def seed_augmentation(self, seed: int) -> None:
        """Seeds the training pipeline, so a training stage is reproducible."""
        if self.train_transform is not None:
            self.train_transform.set_random_seed(seed)


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

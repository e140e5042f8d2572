"""Anyone's classification images by config: torchvision's ``ImageFolder`` layout or a CSV of ``path,label``,
read from disk as they are needed (the pool need not fit in memory).

Layouts::

    <data_root>/<pool split>/<class>/<image>       <data_root>/<test split>/<class>/<image>
    <data_root>/<csv>  with lines  path,label      (paths relative to the CSV's folder; an empty label: not yet
                                                    labelled, for annotation runs)

Global ids run over the pool split's images (sorted by path), then the test split's.
"""
import csv
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import InvalidValue
from ..registry import DATASETS
from .classification import DatasetFilesNotFound
from .image_files import read_image_file

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
UNLABELLED = -1


def folder_split(root: Path, split: str, classes: Optional[List[str]]) -> Tuple[List[Path], List[int], List[str]]:
    """``(images, labels, classes)`` of ``root/<split>/<class>/*``; the classes are the folder names unless given.

    Raises:
        DatasetFilesNotFound: The split has no class folder or no image.
        InvalidValue: A class folder is not one of the given classes.
    """
    folder = root / split
    found = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if not found:
        raise DatasetFilesNotFound(f"dataset: no class folders in {folder}: expected {folder}/<class>/<image>")
    classes = list(classes) if classes is not None else found
    unknown = [name for name in found if name not in classes]
    if unknown:
        raise InvalidValue(f"dataset: {folder / unknown[0]} is no class of dataset.classes {classes}")
    images, labels = [], []
    for name in found:
        for path in sorted(p for p in (folder / name).rglob("*") if p.suffix.lower() in EXTENSIONS):
            images.append(path)
            labels.append(classes.index(name))
    if not images:
        raise DatasetFilesNotFound(f"dataset: no images below {folder} (extensions {', '.join(EXTENSIONS)})")
    return images, labels, classes


def csv_split(path: Path, classes: List[str]) -> Tuple[List[Path], List[int]]:
    """``(images, labels)`` of a ``path,label`` CSV; an empty label is :data:`UNLABELLED`.

    Raises:
        DatasetFilesNotFound: The CSV or an image it names is missing.
        InvalidValue: A line is not ``path,label`` or names an unknown class; the message names the line.
    """
    if not path.is_file():
        raise DatasetFilesNotFound(f"dataset: CSV {path} not found")
    images, labels = [], []
    with open(path, newline="") as f:
        for number, row in enumerate(csv.reader(f), 1):
            if not row or (number == 1 and row[:2] == ["path", "label"]):
                continue
            if len(row) != 2:
                raise InvalidValue(f"{path}, line {number}: expected path,label, got {row!r}")
            image, label = path.parent / row[0].strip(), row[1].strip()
            if not image.is_file():
                raise DatasetFilesNotFound(f"{path}, line {number}: {image} does not exist")
            if label and label not in classes:
                raise InvalidValue(f"{path}, line {number}: {label!r} is no class of dataset.classes")
            images.append(image)
            labels.append(classes.index(label) if label else UNLABELLED)
    if not images:
        raise DatasetFilesNotFound(f"dataset: {path} names no image")
    return images, labels


@DATASETS.register_module()
class ClassificationFolder(Dataset):
    """Image classification from an ``ImageFolder`` layout or CSV files, loaded lazily.

    Args:
        data_root: The dataset's folder.
        image_size: ``(height, width)`` every image is resized to.
        pool: The pool split's folder below ``data_root`` (``ImageFolder``), or a CSV of ``path,label``.
        test: The test split, likewise.
        classes: Class names in index order; default: the pool split's class folders, sorted (required with CSVs).
        mean: Per-channel mean of the [0, 1] images.
        std: Per-channel standard deviation of the [0, 1] images.
        require_labels: Every pool image must have a label (benchmarks); ``False`` for annotation runs, whose
            CSV rows get their labels as annotators fill them in.

    Raises:
        DatasetFilesNotFound: A split, CSV or image is missing, or (``require_labels``) a row has no label.
        InvalidValue: A class folder or label is no class, or a setting is malformed.
    """

    task = "classification"
    ignore_index = None

    def __init__(self, data_root: str, image_size: Sequence[int], pool: str = "train", test: str = "val",
                 classes: Optional[Sequence[str]] = None, mean: Sequence[float] = (0.485, 0.456, 0.406),
                 std: Sequence[float] = (0.229, 0.224, 0.225), require_labels: bool = True):
        root = Path(data_root)
        if len(image_size) != 2 or not all(isinstance(v, int) and v > 0 for v in image_size):
            raise InvalidValue(f"dataset.image_size must be (height, width), got {image_size!r}")
        splits = []
        for declared in (pool, test):
            if str(declared).endswith(".csv"):
                if classes is None:
                    raise InvalidValue("dataset.classes must be given with CSV splits")
                images, labels = csv_split(root / declared, list(classes))
            else:
                images, labels, classes = folder_split(root, declared, None if classes is None else list(classes))
            splits.append((images, labels))
        self.data_root, self.classes, self.image_size = root, list(classes), tuple(image_size)
        self.images = splits[0][0] + splits[1][0]
        self.labels = np.array(splits[0][1] + splits[1][1], dtype=np.int64)
        self.is_test = np.array([False] * len(splits[0][0]) + [True] * len(splits[1][0]))
        if (self.labels[self.is_test] == UNLABELLED).any():
            raise DatasetFilesNotFound(f"dataset.test: {self.images[int(np.argmax(self.is_test))].parent} has "
                                       f"images without a label; every test image needs one")
        if require_labels and (self.labels == UNLABELLED).any():
            missing = self.images[int(np.flatnonzero(self.labels == UNLABELLED)[0])]
            raise DatasetFilesNotFound(f"image {missing} has no label (dataset.require_labels=False for annotation "
                                       f"runs)")
        self._mean = torch.tensor(mean, dtype=torch.float32).reshape(-1, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32).reshape(-1, 1, 1)

    @classmethod
    def unlabelled(cls, images: Sequence[Path], classes: Sequence[str], image_size: Sequence[int],
                   mean: Sequence[float] = (0.485, 0.456, 0.406),
                   std: Sequence[float] = (0.229, 0.224, 0.225)) -> "ClassificationFolder":
        """Images outside any dataset (``select.py --pool``), read as a config's dataset reads its own."""
        pool = cls.__new__(cls)
        pool.data_root, pool.classes, pool.image_size = None, list(classes), tuple(image_size)
        pool.images = list(images)
        pool.labels = np.full(len(pool.images), UNLABELLED, dtype=np.int64)
        pool.is_test = np.zeros(len(pool.images), dtype=bool)
        pool._mean = torch.tensor(mean, dtype=torch.float32).reshape(-1, 1, 1)
        pool._std = torch.tensor(std, dtype=torch.float32).reshape(-1, 1, 1)
        return pool

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple:
        return (3, *self.image_size)

    def __len__(self) -> int:
        return len(self.images)

    def image_path(self, idx: int) -> Path:
        return self.images[idx]

    def has_label(self, ids) -> np.ndarray:
        """``[len(ids)]`` bool: which ids have a label (a CSV row's label may be filled in later)."""
        return self.labels[np.asarray(ids, dtype=np.int64)] != UNLABELLED

    def read_image(self, idx: int) -> np.ndarray:
        """The image ``[H, W, 3]`` uint8 RGB of a global id at ``image_size``."""
        image = cv2.cvtColor(read_image_file(self.images[idx]), cv2.COLOR_BGR2RGB)
        height, width = self.image_size
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)

    def load(self, idx: int, train: bool = False, with_target: bool = True) -> dict:
        """``dict(inputs [3, H, W] float, target int64, id)``; without ``with_target`` no ``target``."""
        inputs = torch.from_numpy(self.read_image(idx).transpose(2, 0, 1).copy()).float() / 255
        sample = {"inputs": (inputs - self._mean) / self._std, "id": idx}
        if with_target:
            if self.labels[idx] == UNLABELLED:
                raise InvalidValue(f"image {self.images[idx]} has no label yet")
            sample["target"] = torch.tensor(int(self.labels[idx]))
        return sample

    def __getitem__(self, idx: int) -> dict:
        return self.load(idx)

"""Anyone's segmentation data, by config: images and label maps in folders (or named by list files), any classes.

Per split (``pool`` and ``test``), images are ``<data_root>/<img_dir>/**/<stem><img_suffix>`` and their labels
``<data_root>/<ann_dir>/**/<stem><seg_map_suffix>`` at the same relative path; with ``split='list.txt'`` only the
stems the list file names (one per line, as Pascal VOC's ``ImageSets``) are read. Labels are decoded by a
:class:`~segal.data.label_encoding.LabelEncoding`: index PNGs, a raw-value ``label_map``, ``reduce_zero_label``
(ADE20K) or colour masks through ``palette`` (CamVid). Cityscapes and the synthetic city are presets of this
reader (:mod:`.cityscapes`).

Global ids run over the sorted images of the pool split, then of the test split.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import InvalidValue
from ..registry import DATASETS
from .classification import DatasetFilesNotFound
from .costs import contour_clicks
from .image_files import ImageFileError, image_size, read_image_file, read_index_image
from .label_encoding import LabelEncoding, LabelError
from .regions import RegionMaps, RegionSpec
from .transforms import build_pipeline

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255


def to_input(image: np.ndarray) -> torch.Tensor:
    """``[H, W, 3]`` uint8 RGB -> ``[3, H, W]`` float32, normalised with ImageNet statistics."""
    inputs = (image.astype(np.float32) - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(inputs.transpose(2, 0, 1)))


@dataclass(frozen=True)
class LabelSource:
    """Where an image's label may be and how it is encoded: ``<ann_dir>/<relative folder>/<stem><suffix>``."""

    suffix: str
    encoding: LabelEncoding


def read_label_file(path: Path, sources: Sequence[LabelSource]) -> np.ndarray:
    """``[H, W]`` uint8 class indices from a label file, decoded by the source whose suffix its name ends with.

    Raises:
        LabelError: The file is unreadable or holds values that are no class.
    """
    source = next(s for s in sources if path.name.endswith(s.suffix))
    try:
        if source.encoding.channels == 3:
            raw = cv2.cvtColor(read_image_file(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        else:
            raw = read_index_image(path)
    except ImageFileError as err:
        raise LabelError(f"label file: {err}") from None
    return source.encoding.decode(raw, path)


@dataclass(frozen=True)
class SplitFolders:
    """One split's folders (relative to the data root) and, optionally, its list file.

    Attributes:
        img_dir: The images' folder.
        ann_dir: The labels' folder (subfolders mirror ``img_dir``'s).
        split: A list file of stems, one per line; ``None`` reads every image below ``img_dir``.
    """

    img_dir: str
    ann_dir: str
    split: Optional[str] = None

    @classmethod
    def from_config(cls, declared, key: str) -> "SplitFolders":
        if isinstance(declared, SplitFolders):
            return declared
        if not isinstance(declared, dict) or "img_dir" not in declared or "ann_dir" not in declared:
            raise InvalidValue(f"{key} must be dict(img_dir=..., ann_dir=..., split=None), got {declared!r}")
        unknown = set(declared) - {"img_dir", "ann_dir", "split"}
        if unknown:
            raise InvalidValue(f"{key} has unknown keys {sorted(unknown)} (valid: img_dir, ann_dir, split)")
        return cls(str(declared["img_dir"]), str(declared["ann_dir"]), declared.get("split"))


def list_images(root: Path, folders: SplitFolders, img_suffix: str, what: str) -> List[Path]:
    """Sorted images of one split, each file stem once.

    Raises:
        DatasetFilesNotFound: The split is empty, or its list file is missing or names an image that is not there.
        InvalidValue: Two images share a file stem (annotation tools match images by name).
    """
    image_dir = root / folders.img_dir
    if folders.split is not None:
        listing = root / folders.split
        if not listing.is_file():
            raise DatasetFilesNotFound(f"{what}: list file {listing} not found")
        stems = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        images = [image_dir / f"{stem}{img_suffix}" for stem in stems]
        missing = next((image for image in images if not image.is_file()), None)
        if missing is not None:
            raise DatasetFilesNotFound(f"{what}: {listing} names {missing.name[: -len(img_suffix)]}, but {missing} "
                                       f"does not exist")
        images = sorted(images)
    else:
        images = sorted(path for path in image_dir.rglob(f"*{img_suffix}") if path.is_file())
    if not images:
        raise DatasetFilesNotFound(f"{what}: no images in {image_dir}: expected {image_dir}/**/<name>{img_suffix}"
                                   + (f" named by {root / folders.split}" if folders.split else "")
                                   + "; set dataset.data_root and the split's img_dir")
    seen: Dict[str, Path] = {}
    for image in images:
        stem = image.name[: -len(img_suffix)]
        if stem in seen:
            raise InvalidValue(f"{what}: images {seen[stem]} and {image} share the stem {stem!r}; annotation "
                               f"tools match images by name, so each stem may appear once")
        seen[stem] = image
    return images


@DATASETS.register_module()
class SegmentationFolder(Dataset):
    """Semantic segmentation from image and label folders, any classes.

    Args:
        data_root: The dataset's folder; split folders and list files are relative to it.
        classes: Class names, in index order.
        pool: ``dict(img_dir, ann_dir, split=None)``: the split the initial set, holdout and pool come from.
        test: The same for the split evaluated as the test set.
        img_suffix: How image file names end, e.g. ``'.jpg'`` or ``'_leftImg8bit.png'``.
        seg_map_suffix: How label file names end.
        palette: One RGB triple per class: colours for figures and annotation tools, and the colours of colour
            masks (``colour_labels=True``).
        ignore_index: The label value of pixels that count for no class.
        label_map: ``{raw value: class index}``; unmapped values become ``ignore_index``.
        reduce_zero_label: Raw 0 is ignored and raw ``v`` is class ``v - 1`` (ADE20K).
        colour_labels: Label files are RGB colour masks, decoded through ``palette``.
        ignore_colour: With ``colour_labels``, the RGB of pixels that count for no class (e.g. ``[0, 0, 0]``).
        train_pipeline: albumentations steps for training (see :mod:`segal.data.transforms`).
        test_pipeline: albumentations steps for evaluation and scoring; empty means full resolution.
        require_labels: Every image must have a label file (benchmarks); ``False`` for annotation work.
        regions: ``None``, or ``dict(type='SLIC', ...)`` / ``dict(type='Grid', size=S)``
            (:class:`~segal.data.regions.RegionSpec`).

    Raises:
        InvalidValue: Classes and palette differ in length, a setting is malformed, or two images share a stem.
        DatasetFilesNotFound: A split is empty, a list file names a missing image, or (``require_labels``) an
            image has no label.
    """

    task = "segmentation"

    def __init__(self, data_root: str, classes: Sequence[str], pool: dict, test: dict, img_suffix: str = ".jpg",
                 seg_map_suffix: str = ".png", palette: Optional[Sequence] = None, ignore_index: int = 255,
                 label_map: Optional[dict] = None, reduce_zero_label: bool = False, colour_labels: bool = False,
                 ignore_colour: Optional[Sequence[int]] = None, train_pipeline: Optional[Sequence[dict]] = None,
                 test_pipeline: Optional[Sequence[dict]] = None,
                 require_labels: bool = True, regions: Optional[dict] = None):
        self.classes, self.palette = checked_classes(classes, palette, ignore_index)
        self.ignore_index = ignore_index
        encoding = LabelEncoding.from_config(len(self.classes), ignore_index, label_map, reduce_zero_label,
                                             self.palette, colour_labels, ignore_colour)
        folders = {name: SplitFolders.from_config(declared, f"dataset.{name}")
                   for name, declared in (("pool", pool), ("test", test))}
        self._setup(Path(data_root), folders, img_suffix, [LabelSource(seg_map_suffix, encoding)],
                    train_pipeline, test_pipeline, require_labels, regions)

    def _setup(self, data_root: Path, folders: Dict[str, Optional[SplitFolders]], img_suffix: str,
               sources: List[LabelSource], train_pipeline, test_pipeline, require_labels: bool,
               regions: Optional[dict]) -> None:
        """Lists both splits (no test split: ``folders['test']`` is ``None``, for tools that write labels) and
        builds the pipelines; ``sources[-1]`` is where new labels are written."""
        self.data_root, self.img_suffix, self.label_sources = data_root, img_suffix, sources
        self.folders = folders
        pool_images = list_images(data_root, folders["pool"], img_suffix, "dataset.pool")
        test_images = [] if folders["test"] is None else list_images(data_root, folders["test"], img_suffix,
                                                                      "dataset.test")
        self.images = pool_images + test_images
        self.is_test = np.array([False] * len(pool_images) + [True] * len(test_images))
        self._split_of = [folders["pool"]] * len(pool_images) + [folders["test"]] * len(test_images)
        if require_labels:
            unlabelled = next((i for i in range(len(self.images)) if self.label_path(i) is None), None)
            if unlabelled is not None:
                raise DatasetFilesNotFound(f"image {self.images[unlabelled]} has no label: expected "
                                           f"{self.expected_label_path(unlabelled)} (dataset.require_labels=False "
                                           f"for annotation runs, whose pool images get labels later)")
        self.train_transform = build_pipeline(train_pipeline, "dataset.train_pipeline")
        self.test_transform = build_pipeline(test_pipeline, "dataset.test_pipeline")
        self.regions = None
        if regions is not None:
            self.regions = RegionMaps(RegionSpec.from_config(regions), self.data_root, self.image_path,
                                      self.read_image, lambda idx: image_size(self.images[idx])[::-1])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple:
        """``(C, H, W)``; only the channel count is fixed."""
        return (3, None, None)

    def __len__(self) -> int:
        return len(self.images)

    def image_path(self, idx: int) -> Path:
        return self.images[idx]

    def label_candidates(self, idx: int) -> List[Path]:
        """Where the label of a global id may be, in the order they are read."""
        image, folders = self.images[idx], self._split_of[idx]
        relative = image.parent.relative_to(self.data_root / folders.img_dir)
        stem = image.name[: -len(self.img_suffix)]
        return [self.data_root / folders.ann_dir / relative / f"{stem}{source.suffix}" for source in self.label_sources]

    def expected_label_path(self, idx: int) -> Path:
        """Where an annotator (or ``import_labels.py``) writes the label of a global id."""
        return self.label_candidates(idx)[-1]

    def label_path(self, idx: int) -> Optional[Path]:
        """The label file of a global id as it is on disk now, or ``None``."""
        return next((path for path in self.label_candidates(idx) if path.is_file()), None)

    def has_label(self, ids: Sequence[int]) -> np.ndarray:
        """``[len(ids)]`` bool: which ids have a label file now."""
        return np.array([self.label_path(int(i)) is not None for i in ids], dtype=bool)

    def region_map(self, idx: int) -> np.ndarray:
        """``[H, W]`` int64 region ids of a global id at the label's resolution (``dataset.regions`` set)."""
        if self.regions is None:
            raise InvalidValue("region selection needs dataset.regions, e.g. dict(type='SLIC', n_segments=2000)")
        return self.regions(idx)

    def clicks(self, idx: int) -> Tuple[int, str]:
        """``(clicks, cost model)`` to annotate a global id whole with polygons traced on its label
        (:func:`~segal.data.costs.contour_clicks`)."""
        return contour_clicks(self.read(idx)[1]), "label_contours"

    def read_image(self, idx: int) -> np.ndarray:
        """The raw image ``[H, W, 3]`` uint8 RGB of a global id."""
        return cv2.cvtColor(read_image_file(self.images[idx]), cv2.COLOR_BGR2RGB)

    def read_label(self, path: Path) -> np.ndarray:
        """``[H, W]`` uint8 class indices from a label file, decoded by its source's encoding."""
        return read_label_file(Path(path), self.label_sources)

    def label_file_bytes(self, indices: np.ndarray) -> bytes:
        """The PNG that :meth:`read_label` reads back as ``[H, W]`` class indices (``ignore_index`` where
        unlabelled), in the encoding new labels are written in."""
        array = self.label_sources[-1].encoding.encode(indices)
        if array.ndim == 3:
            array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
        return cv2.imencode(".png", array)[1].tobytes()

    def read(self, idx: int):
        """The raw image ``[H, W, 3]`` uint8 (RGB) and class-index label ``[H, W]`` uint8 of a global id."""
        image_path, label_path = self.images[idx], self.label_path(idx)
        if label_path is None:
            raise LabelError(f"image {image_path} has no label yet: expected {self.expected_label_path(idx)}")
        image, label = self.read_image(idx), self.read_label(label_path)
        if image.shape[:2] != label.shape:
            raise LabelError(f"image {image_path} is {image.shape[1]}x{image.shape[0]} but its label {label_path} "
                             f"is {label.shape[1]}x{label.shape[0]}")
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
        """A sample dict from a raw image and a class-index label, through the train or test pipeline."""
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


def default_palette(count: int) -> List[Tuple[int, int, int]]:
    """``count`` distinct colours for classes without a palette (golden-ratio hues, alternating lightness)."""
    import colorsys

    colours = []
    for index in range(count):
        hue = (index * 0.618033988749895) % 1.0
        red, green, blue = colorsys.hsv_to_rgb(hue, 0.75, 0.95 if index % 2 == 0 else 0.7)
        colours.append((round(red * 255), round(green * 255), round(blue * 255)))
    return colours


def checked_classes(classes, palette, ignore_index: int) -> Tuple[List[str], List[Tuple[int, int, int]]]:
    """The class names and their palette (the default one when none is given), checked.

    Raises:
        InvalidValue: No classes, a name that is not a non-empty string or appears twice, more classes than the
            ignore index leaves room for, a palette of another length, or a colour that is not three 0-255 values.
    """
    if not isinstance(classes, (list, tuple)) or not classes:
        raise InvalidValue(f"dataset.classes must be a non-empty list of class names, got {classes!r}")
    names = list(classes)
    bad = next((name for name in names if not isinstance(name, str) or not name.strip()), None)
    if bad is not None:
        raise InvalidValue(f"dataset.classes: {bad!r} is not a class name")
    twice = next((name for name in names if names.count(name) > 1), None)
    if twice is not None:
        raise InvalidValue(f"dataset.classes names {twice!r} twice")
    if len(names) > min(ignore_index, 255):
        raise InvalidValue(f"dataset.classes has {len(names)} classes; label values are 8-bit and "
                           f"{ignore_index} is the ignore index")
    if palette is None:
        return names, default_palette(len(names))
    if not isinstance(palette, (list, tuple)) or len(palette) != len(names):
        length = len(palette) if isinstance(palette, (list, tuple)) else palette
        raise InvalidValue(f"dataset.palette has {length} colours for {len(names)} classes; give one RGB triple per "
                           f"class")
    colours = []
    for name, colour in zip(names, palette):
        if not isinstance(colour, (list, tuple)) or len(colour) != 3 or not all(
                isinstance(c, int) and 0 <= c <= 255 for c in colour):
            raise InvalidValue(f"dataset.palette: the colour of {name!r} is {colour!r}; expected three values 0-255")
        colours.append(tuple(colour))
    if len(set(colours)) != len(colours):
        raise InvalidValue("dataset.palette gives two classes the same colour")
    return names, colours

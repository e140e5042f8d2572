"""Unlabelled images outside any run (``tools/select.py --pool``), read with a config's test pipeline."""
from pathlib import Path
from typing import List, Optional, Sequence

import cv2
import numpy as np
from torch.utils.data import Dataset

from ..errors import InvalidValue
from .cityscapes import IGNORE_INDEX, TRAIN_CLASSES
from .classification import DatasetFilesNotFound
from .image_files import image_size, read_image_file
from .segmentation_folder import to_input
from .transforms import build_pipeline

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def list_pool_images(source) -> List[Path]:
    """The images of ``--pool``: a folder's .png/.jpg/.jpeg files (recursively, sorted), or a text file's lines
    (relative paths from the list file's folder).

    Raises:
        DatasetFilesNotFound: The source is missing or empty, or a listed image does not exist.
    """
    source = Path(source)
    if source.is_dir():
        images = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    elif source.is_file():
        lines = [line.strip() for line in source.read_text().splitlines() if line.strip()]
        images = [p if p.is_absolute() else source.parent / p for p in map(Path, lines)]
        missing = [str(p) for p in images if not p.is_file()]
        if missing:
            raise DatasetFilesNotFound(f"{source} lists images that do not exist: {missing[:10]}")
    else:
        raise DatasetFilesNotFound(f"pool {source} is neither a folder nor a list file")
    if not images:
        raise DatasetFilesNotFound(f"no .png/.jpg images in {source}")
    return images


class ImageFolderPool(Dataset):
    """Unlabelled images for real annotation work, read with a config's test pipeline.

    Args:
        source: A folder (searched recursively for .png/.jpg/.jpeg files) or a
            text file listing one image path per line (relative paths are
            taken from the list file's folder).
        test_pipeline: albumentations steps, as ``dataset.test_pipeline``.
        classes: Class names of the model that will score the images.

    Ids are positions in the sorted folder listing, or in the list file's order.
    """

    task = "segmentation"
    ignore_index = IGNORE_INDEX

    def __init__(self, source: str, test_pipeline: Optional[Sequence[dict]] = None,
                 classes: Sequence[str] = TRAIN_CLASSES):
        self.images = list_pool_images(source)
        self.is_test = np.zeros(len(self.images), dtype=bool)
        self.classes = list(classes)
        self.test_transform = build_pipeline(test_pipeline, "dataset.test_pipeline")

    input_shape = (3, None, None)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.images)

    def image_path(self, idx: int) -> Path:
        return self.images[idx]

    def read_image(self, idx: int) -> np.ndarray:
        return cv2.cvtColor(read_image_file(self.images[idx]), cv2.COLOR_BGR2RGB)

    def check_one_size(self) -> None:
        """Checks that the test pipeline brings every image to one size, so the images can be batched.

        Reads only the image headers. Raises :class:`ValueError` naming the
        sizes and files when they differ.
        """
        files_by_size = {}
        for path in self.images:
            width, height = image_size(path)
            files_by_size.setdefault((height, width), []).append(path)
        out_sizes = {}
        for (height, width), files in files_by_size.items():
            shape = (height, width)
            if self.test_transform is not None:
                shape = self.test_transform(image=np.zeros((height, width, 3), np.uint8))["image"].shape[:2]
            out_sizes.setdefault(tuple(shape), []).extend(files)
        if len(out_sizes) > 1:
            listing = "; ".join(
                f"{h}x{w}: {', '.join(str(p) for p in files[:3])}"
                + (f" and {len(files) - 3} more" if len(files) > 3 else "")
                for (h, w), files in sorted(out_sizes.items(), key=lambda item: -len(item[1]))
            )
            raise InvalidValue(
                f"the pool's images come in {len(out_sizes)} sizes after dataset.test_pipeline (height x width: "
                f"{listing}); add a resize to dataset.test_pipeline, e.g. dict(type='Resize', height=H, width=W), "
                f"or pool images of one size"
            )

    def __getitem__(self, idx: int) -> dict:
        image = self.read_image(idx)
        if self.test_transform is not None:
            image = self.test_transform(image=image)["image"]
        return {"inputs": to_input(image), "id": idx}

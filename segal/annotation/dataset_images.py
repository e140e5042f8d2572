"""The images a task or an annotation tool's item names, found in the dataset the labels go into."""
import re
from pathlib import Path
from typing import Optional

import numpy as np

#: Label Studio prefixes uploaded file names with a short hash.
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


class DatasetImages:
    """The pool-split images of the dataset the labels go into, found by their path below the data root, by file
    name or by file stem (a CVAT item)."""

    def __init__(self, dataset):
        self.dataset, self.root = dataset, Path(dataset.data_root)
        self.folder = self.root / dataset.folders["pool"].img_dir
        self.by_relative, self.by_name = {}, {}
        for idx in np.flatnonzero(~np.asarray(dataset.is_test)).tolist():
            image = Path(dataset.image_path(idx))
            self.by_relative[image.relative_to(self.root).as_posix()] = idx
            for key in (image.name, image.stem, image.name[: -len(dataset.img_suffix)]):
                self.by_name.setdefault(key, idx)
        self.count = len(self.by_relative)

    def find(self, reference: str) -> Optional[int]:
        """The global id of the image a task or item names, or ``None``."""
        parts = Path(reference).parts
        if reference in self.by_relative:
            return self.by_relative[reference]
        if "leftImg8bit" in parts[:-1]:  # a Cityscapes path: matched as a whole from leftImg8bit/ on
            return self.by_relative.get("/".join(parts[len(parts) - 1 - parts[::-1].index("leftImg8bit"):]))
        name = Path(reference).name
        for candidate in (name, _UPLOAD_PREFIX.sub("", name)):
            for key in (candidate, Path(candidate).stem, f"{Path(candidate).stem}_leftImg8bit"):
                if key in self.by_name:
                    return self.by_name[key]
        return None

    def relative(self, reference: str) -> str:
        """The path below the data root of the image ``reference`` names (:meth:`find` must have found it)."""
        return Path(self.dataset.image_path(self.find(reference))).relative_to(self.root).as_posix()

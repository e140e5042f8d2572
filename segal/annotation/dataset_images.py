"""The dataset that imported labels go into, and the images a task or an annotation tool's item names in it."""
import re
from pathlib import Path
from typing import Optional

import numpy as np

from ..config import load_config
from ..data.classification import DatasetFilesNotFound
from ..engine.run_folder import RunFolder
from ..errors import InvalidValue

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


def import_dataset(data_root: Optional[str], split: str = "train", state: Optional[str] = None,
                   config: Optional[str] = None, cfg_options: Optional[dict] = None):
    """The dataset labels are imported into, with every pool image listed whether labelled or not.

    From ``config`` (with ``cfg_options``), else the run's ``config.json`` beside ``state``, else Cityscapes'
    layout at ``data_root`` (``split`` as its pool split); ``data_root`` overrides the config's.

    Raises:
        InvalidValue: Neither a config, a run nor a data root is given, or the dataset is not a segmentation
            folder dataset; FileNotFoundError / DatasetFilesNotFound as the dataset names them.
    """
    from ..data.cityscapes import Cityscapes
    from ..spec import build_dataset

    if config is None and state is not None and RunFolder(Path(state).parent).config_path.is_file():
        config = str(RunFolder(Path(state).parent).config_path)
    if config is None:
        if data_root is None:
            raise InvalidValue("give --data-root (a Cityscapes-layout folder), --config, or --state of the run")
        try:
            return Cityscapes(str(data_root), pool_split=split, test_split=None, require_labels=False)
        except DatasetFilesNotFound:
            raise InvalidValue(f"no images in {Path(data_root) / 'leftImg8bit' / split}: --data-root must hold "
                               f"leftImg8bit/{split}/<city>/<name>_leftImg8bit.png (choose the split with "
                               f"--split)") from None
    cfg = load_config(str(config), dict(cfg_options or {}))
    cfg.dataset.require_labels = False
    if data_root is not None:
        cfg.dataset.data_root = str(data_root)
    if state is not None and cfg.dataset.get("pool_split", split) != split:
        raise InvalidValue(f"--split {split}: the run of {state} selects from the {cfg.dataset.pool_split} split")
    dataset = build_dataset(cfg)
    if not hasattr(dataset, "label_sources"):
        raise InvalidValue(f"{config}: dataset.type={cfg.dataset.type!r} has no label files to import into")
    return dataset

"""Stand-in annotators for a Cityscapes-layout folder whose labels all exist: hold most back, deliver on request.

To try the annotation workflow without annotators, :func:`hold_back_labels`
moves the labels of most pool images out of ``gtFine`` into
``labels_to_deliver/`` (same sub-paths), and :func:`deliver_labels` moves the
labels of a selection back, as annotators would write them.
"""
import json
import shutil
from pathlib import Path
from typing import List, Sequence

import cv2
import numpy as np

from ..errors import InvalidValue
from ..utils.io import atomic_write_bytes
from .cityscapes import label_candidates
from .image_files import read_image_file

HELD_BACK = "labels_to_deliver"


def _label_of(root: Path, image: Path) -> Path:
    """The image's ``gtFine_labelIds`` file (as annotators write it), relative to ``root``."""
    return label_candidates(image.resolve())[1].relative_to(root.resolve())


def hold_back_labels(root, keep: int, split: str = "train") -> int:
    """Moves the labels of every ``split`` image but the first ``keep`` (in sorted order) to ``root/labels_to_deliver``.

    Returns:
        How many labels were moved.

    Raises:
        ValueError: ``keep`` is negative or not below the number of images with labels.
    """
    root = Path(root)
    images = sorted((root / "leftImg8bit" / split).rglob("*_leftImg8bit.png"))
    labelled = [image for image in images if (root / _label_of(root, image)).is_file()]
    if not 0 <= keep < len(labelled):
        raise InvalidValue(f"--labelled {keep}: {root} has {len(labelled)} labelled {split} images; keep 0 to "
                         f"{len(labelled) - 1} of them labelled")
    for image in labelled[keep:]:
        label = _label_of(root, image)
        (root / HELD_BACK / label).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(root / label), root / HELD_BACK / label)
    return len(labelled) - keep


def deliver_labels(root, selection: str) -> List[Path]:
    """Moves the held-back labels of the images a ``selection_step<N>.json`` names back into ``gtFine``.

    Returns:
        The label files written.

    Raises:
        FileNotFoundError: An image of the selection has no held-back label; the message names it.
    """
    root = Path(root)
    chosen = json.loads(Path(selection).read_text())
    if chosen.get("mode") == "regions":
        return _deliver_regions(root, selection, chosen["selection"])
    images = [Path(entry["image"]) for entry in chosen["selection"]]
    labels = [_label_of(root, image) for image in images]
    missing = [str(root / HELD_BACK / label) for label in labels if not (root / HELD_BACK / label).is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} labels of {selection} are not held back in {root / HELD_BACK}: "
                                f"{', '.join(missing[:3])}")
    for label in labels:
        shutil.move(str(root / HELD_BACK / label), root / label)
    return [root / label for label in labels]


def _deliver_regions(root: Path, selection: str, entries: List[dict]) -> List[Path]:
    """Writes the labels of the masked regions of each image into its ``gtFine`` file, as an annotator would.

    Pixels outside every mask delivered so far stay 0 (unlabelled); the held-back label stays held back,
    since later steps may ask for other regions of the same image.
    """
    written = []
    for image, mask_file in dict.fromkeys((entry["image"], entry["mask"]) for entry in entries):
        label = _label_of(root, Path(image))
        source = root / HELD_BACK / label
        if not source.is_file():
            raise FileNotFoundError(f"{selection}: the label of {image} is not held back in {source}")
        truth = read_image_file(source, cv2.IMREAD_UNCHANGED)
        mask = read_image_file(mask_file, cv2.IMREAD_UNCHANGED) > 0
        if mask.shape != truth.shape:
            raise InvalidValue(f"{mask_file} is {mask.shape[1]}x{mask.shape[0]}, its image's label "
                               f"{truth.shape[1]}x{truth.shape[0]}")
        target = root / label
        delivered = read_image_file(target, cv2.IMREAD_UNCHANGED) if target.is_file() else np.zeros_like(truth)
        atomic_write_bytes(target, cv2.imencode(".png", np.where(mask, truth, delivered).astype(np.uint8))[1].tobytes())
        written.append(target)
    return written


def held_back(root) -> Sequence[Path]:
    """The labels still held back under ``root``."""
    return sorted((Path(root) / HELD_BACK).rglob("*.png"))

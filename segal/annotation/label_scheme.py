"""The classes an annotation tool shows and the values an imported label map holds.

Models predict class indices (``road`` is 0 in Cityscapes). Cityscapes label
files hold the official label ids (``road`` is 7), so its scheme speaks label
ids, with 0 for unlabelled pixels; any other dataset's scheme speaks class
indices, with the dataset's ignore index for unlabelled pixels, and the
import writes them in the dataset's own encoding. Label Studio shows the class
names as the dataset names them (``traffic light``); CVAT's Cityscapes format
has no spaces in names (``trafficlight``), so names are matched with spaces
removed and case ignored.
"""
from dataclasses import dataclass
from typing import Dict, Sequence, Tuple

import numpy as np
from cityscapesscripts.helpers.labels import labels as CITYSCAPES_LABELS

UNLABELLED_ID = 0


def name_key(name: str) -> str:
    """How class names are compared: ``'Traffic Light'``, ``'trafficlight'`` -> ``'trafficlight'``."""
    return "".join(str(name).split()).lower()


def hex_colour(rgb: Sequence[int]) -> str:
    """``(128, 64, 128)`` -> ``'#804080'``."""
    return "#" + "".join(f"{int(c):02x}" for c in rgb)


@dataclass(frozen=True)
class LabelScheme:
    """Class names in index order, with the value an imported label map holds for each class, and colours.

    Attributes:
        names: Class names, index = the model's class index.
        label_ids: The value an imported label map holds for each class (Cityscapes: its official label id).
        colours: RGB colour of each class.
        unlabelled: The value of pixels no layer covers.
        is_cityscapes: Label maps speak Cityscapes' 34 official label ids (its CVAT format applies).
    """

    names: Tuple[str, ...]
    label_ids: Tuple[int, ...]
    colours: Tuple[Tuple[int, int, int], ...]
    unlabelled: int = UNLABELLED_ID
    is_cityscapes: bool = True

    @classmethod
    def cityscapes(cls) -> "LabelScheme":
        """The 19 Cityscapes train classes in their official colours."""
        train = sorted((label for label in CITYSCAPES_LABELS if 0 <= label.trainId < 255),
                       key=lambda label: label.trainId)
        return cls(tuple(label.name for label in train), tuple(label.id for label in train),
                   tuple(tuple(label.color) for label in train))

    @classmethod
    def for_classes(cls, names: Sequence[str], colours: Sequence[Sequence[int]], ignore_index: int) -> "LabelScheme":
        """Any dataset's classes: label maps hold class indices, ``ignore_index`` where unlabelled."""
        return cls(tuple(names), tuple(range(len(names))), tuple(tuple(int(c) for c in colour) for colour in colours),
                   ignore_index, False)

    @classmethod
    def of_dataset(cls, dataset) -> "LabelScheme":
        """The scheme of a segmentation dataset: Cityscapes' label ids for its presets, class indices otherwise."""
        if getattr(dataset, "speaks_cityscapes_ids", False):
            return cls.cityscapes()
        return cls.for_classes(dataset.classes, dataset.palette, dataset.ignore_index)

    def train_to_label_ids(self) -> np.ndarray:
        """``[256]`` uint8 lookup table: class index -> label value (unlabelled for 255 and anything else)."""
        table = np.full(256, self.unlabelled, dtype=np.uint8)
        table[: len(self.label_ids)] = self.label_ids
        return table

    def label_id_of(self) -> Dict[str, int]:
        """``{name_key(name): label id}`` for every class."""
        return {name_key(name): label_id for name, label_id in zip(self.names, self.label_ids)}

    def all_labels(self) -> Tuple[Tuple[int, str, Tuple[int, int, int]], ...]:
        """``(label value, name, colour)`` of every label a map may hold: Cityscapes' 34 official labels in id
        order, or the dataset's classes."""
        if not self.is_cityscapes:
            return tuple(zip(self.label_ids, self.names, self.colours))
        official = sorted((label for label in CITYSCAPES_LABELS if label.id >= 0), key=lambda label: label.id)
        return tuple((label.id, label.name, tuple(label.color)) for label in official)

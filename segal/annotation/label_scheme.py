"""The classes an annotation tool shows and the ids a label file holds.

segal's segmentation datasets use the 19 Cityscapes train classes. Label
files hold the official Cityscapes label ids (``road`` is 7); models predict
train ids (``road`` is 0). Label Studio shows the class names as segal names
them (``traffic light``); CVAT's Cityscapes format has no spaces in names
(``trafficlight``), so names are matched with spaces removed and case ignored.
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
    """Class names in train-id order, with each class's label id and colour.

    Attributes:
        names: Class names, index = train id.
        label_ids: The id a ``*_gtFine_labelIds.png`` file holds for each class.
        colours: RGB colour of each class.
    """

    names: Tuple[str, ...]
    label_ids: Tuple[int, ...]
    colours: Tuple[Tuple[int, int, int], ...]

    @classmethod
    def cityscapes(cls) -> "LabelScheme":
        """The 19 Cityscapes train classes in their official colours."""
        train = sorted((label for label in CITYSCAPES_LABELS if 0 <= label.trainId < 255),
                       key=lambda label: label.trainId)
        return cls(tuple(label.name for label in train), tuple(label.id for label in train),
                   tuple(tuple(label.color) for label in train))

    def train_to_label_ids(self) -> np.ndarray:
        """``[256]`` uint8 lookup table: train id -> label id (0, unlabelled, for 255 and anything else)."""
        table = np.full(256, UNLABELLED_ID, dtype=np.uint8)
        table[: len(self.label_ids)] = self.label_ids
        return table

    def label_id_of(self) -> Dict[str, int]:
        """``{name_key(name): label id}`` for every class."""
        return {name_key(name): label_id for name, label_id in zip(self.names, self.label_ids)}

    def all_labels(self) -> Tuple[Tuple[int, str, Tuple[int, int, int]], ...]:
        """``(label id, name, colour)`` of every official Cityscapes label with an id 0-33, in id order."""
        official = sorted((label for label in CITYSCAPES_LABELS if label.id >= 0), key=lambda label: label.id)
        return tuple((label.id, label.name, tuple(label.color)) for label in official)

"""What annotation costs: clicks to label an image whole with polygons, and the budget unit of a step.

An annotator who labels a whole image draws a polygon around every object,
one click per vertex (the cost model of Cai et al., CVPR 2021). Where the
image has Cityscapes' ``*_gtFine_polygons.json``, its vertices are counted;
otherwise the label map's outlines are traced and simplified to polygons
(``cv2.approxPolyDP``, one pixel of tolerance) and their vertices counted.
A region costs one click: the annotator names its dominant class.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Tuple

import cv2
import numpy as np

from ..errors import InvalidValue

#: What a step's budget is counted in.
BUDGET_UNITS = ("images", "regions", "clicks", "pixels")
#: The label value that no polygon is drawn for.
IGNORE_INDEX = 255


@dataclass(frozen=True)
class Budget:
    """``protocol.budget``: how much each annotation step may buy.

    Attributes:
        unit: ``'images'``, ``'regions'``, ``'clicks'`` or ``'pixels'``.
        per_step: How many of that unit one step buys (at most; a step never overspends).
        key: Where the budget was set, for messages (``'--budget'`` in ``tools/select.py``).
    """

    unit: str
    per_step: int
    key: str = field(default="protocol.budget.per_step", compare=False)

    @classmethod
    def from_config(cls, cfg) -> "Budget":
        if not isinstance(cfg, dict) or set(cfg) != {"unit", "per_step"}:
            raise InvalidValue(f"protocol.budget must be dict(unit=..., per_step=N), got {cfg!r}")
        if cfg["unit"] not in BUDGET_UNITS:
            raise InvalidValue(f"protocol.budget.unit must be one of {BUDGET_UNITS}, got {cfg['unit']!r}")
        per_step = cfg["per_step"]
        if not isinstance(per_step, int) or isinstance(per_step, bool) or per_step < 1:
            raise InvalidValue(f"protocol.budget.per_step must be an integer >= 1 (one {cfg['unit'][:-1]} at "
                               f"least), got {per_step!r}")
        return cls(cfg["unit"], per_step)


def polygons_path(image: Path) -> Path:
    """Where Cityscapes keeps the polygons of a ``leftImg8bit`` image."""
    stem = image.name[: -len("_leftImg8bit.png")]
    return image.parents[3] / "gtFine" / image.parent.parent.name / image.parent.name / f"{stem}_gtFine_polygons.json"


def polygon_file_clicks(path: Path) -> int:
    """The vertices of every object polygon in a ``*_gtFine_polygons.json`` file.

    Raises:
        InvalidValue: The file is not Cityscapes' polygon format; the message names it.
    """
    try:
        objects = json.loads(Path(path).read_text())["objects"]
        return sum(len(obj["polygon"]) for obj in objects)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InvalidValue(f"{path} is not a Cityscapes polygon file ({type(err).__name__}: {err})") from None


def contour_clicks(label: np.ndarray) -> int:
    """Vertices of the simplified outlines of every labelled class area of ``[H, W]`` train ids."""
    total = 0
    for value in np.unique(label):
        if value == IGNORE_INDEX:
            continue
        mask = (label == value).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        total += sum(len(cv2.approxPolyDP(contour, 1.0, True)) for contour in contours)
    return int(total)


def image_clicks(image: Path, read_label: Callable[[], np.ndarray]) -> Tuple[int, str]:
    """``(clicks, model)``: the polygon vertices to label ``image`` whole, and which model counted them.

    Args:
        image: The ``leftImg8bit`` file.
        read_label: Reads its train-id label (only when it has no polygon file).
    """
    polygons = polygons_path(Path(image))
    if polygons.is_file():
        return polygon_file_clicks(polygons), "gtFine_polygons"
    return contour_clicks(read_label()), "label_contours"

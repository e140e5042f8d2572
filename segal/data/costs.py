"""What annotation costs: clicks to label an image whole with polygons, and the budget unit of a step.

An annotator who labels a whole image draws a polygon around every object,
one click per vertex (the cost model of Cai et al., CVPR 2021). Where the
image has Cityscapes' ``*_gtFine_polygons.json``, its vertices are counted;
otherwise the label map's outlines are traced and simplified to polygons
(``cv2.approxPolyDP``, one pixel of tolerance) and their vertices counted.
A region costs one click: the annotator names its dominant class.
"""
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, List, Tuple

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
        first_steps: What the first selections buy instead (selection 1, 2, ...), e.g. smaller steps at the
            start so that curves are read where they cross; ``per_step`` after them. Not with ``'images'``.
        key: Where the budget was set, for messages (``'--budget'`` in ``tools/select.py``).
    """

    unit: str
    per_step: int
    first_steps: Tuple[int, ...] = ()
    key: str = field(default="protocol.budget.per_step", compare=False)

    @classmethod
    def from_config(cls, cfg) -> "Budget":
        if not isinstance(cfg, dict) or not {"unit", "per_step"} <= set(cfg) <= {"unit", "per_step", "first_steps"}:
            raise InvalidValue(f"protocol.budget must be dict(unit=..., per_step=N[, first_steps=[N1, N2, ...]]), "
                               f"got {cfg!r}")
        if cfg["unit"] not in BUDGET_UNITS:
            raise InvalidValue(f"protocol.budget.unit must be one of {BUDGET_UNITS}, got {cfg['unit']!r}")
        first_steps = cfg.get("first_steps") or ()
        if not isinstance(first_steps, (list, tuple)):
            raise InvalidValue(f"protocol.budget.first_steps must be a list of amounts, got {first_steps!r}")
        amounts = [("per_step", cfg["per_step"])] + [(f"first_steps[{i}]", v) for i, v in enumerate(first_steps)]
        for key, value in amounts:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidValue(f"protocol.budget.{key} must be an integer >= 1 (one {cfg['unit'][:-1]} at "
                                   f"least), got {value!r}")
        if first_steps and cfg["unit"] == "images":
            raise InvalidValue("protocol.budget.first_steps needs unit 'regions', 'clicks' or 'pixels'; whole-image "
                               "steps of one size keep the runs' labelled counts comparable step by step")
        return cls(cfg["unit"], cfg["per_step"], tuple(first_steps))

    def of_selection(self, selection: int) -> "Budget":
        """The budget of selection ``selection`` (1 for the first, made by step 0's model)."""
        if selection <= len(self.first_steps):
            return replace(self, per_step=self.first_steps[selection - 1])
        return self

    def amounts(self, selections: int) -> List[int]:
        """What each of the first ``selections`` selections buys."""
        return [self.of_selection(s).per_step for s in range(1, selections + 1)]


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

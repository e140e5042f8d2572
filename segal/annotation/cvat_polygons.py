"""CVAT's "CVAT for images 1.1" export in: ``annotations.xml`` with each image's polygons (and boxes).

Each image's shapes are filled in ``z_order``, then in the order the file
lists them, a later shape over an earlier one; a pixel belongs to a shape
when its centre lies inside it (CVAT's coordinates run along pixel edges).
Pixels no shape covers are ``background``. Masks, polylines, points and
other shapes are refused by name, as is XML with a document type (entity
expansion); the file's size is capped as it is read.
"""
import xml.etree.ElementTree as ElementTree
from functools import partial
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
from skimage.draw import polygon2mask

from ..errors import InvalidValue

#: The shapes that fill an area, and how their corners are read.
AREA_SHAPES = ("polygon", "box")
BACKGROUND = "background"


def read_cvat_polygons(export) -> list:
    """``(item name, image file stem, load, class names by index)`` per image of ``annotations.xml``, as
    :func:`~segal.annotation.cvat.read_cvat_export` returns them (index 0 is ``background``).

    Raises:
        InvalidValue: The file is not a CVAT for images 1.1 export, or an image or shape in it cannot be read.
    """
    data, where = export.read("annotations.xml"), f"{export.path}: annotations.xml"
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise InvalidValue(f"{where} declares a document type or entities; a CVAT export has none")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as err:
        raise InvalidValue(f"{where} is not XML: {err}") from None
    names = [BACKGROUND] + [label.findtext("name", "").strip() for label in root.iter("label")]
    images = root.findall("image")
    if root.tag != "annotations" or not images:
        raise InvalidValue(f"{where} has no <annotations> with <image> elements; export CVAT for images 1.1")
    return [(image.get("name", ""), Path(image.get("name", "")).stem, partial(_class_indices, image, names, where),
             names) for image in images]


def _class_indices(image, names: List[str], where: str, size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """The ``[H, W]`` int64 class indices of one ``<image>``'s shapes."""
    item = f"{where}: image {image.get('name')!r}"
    height, width = _whole(image.get("height"), item, "height"), _whole(image.get("width"), item, "width")
    if size is not None and (height, width) != tuple(size):
        raise InvalidValue(f"{item} is {width}x{height}; its image is {size[1]}x{size[0]}")
    index = np.zeros((height, width), dtype=np.int64)
    shapes = [(int(shape.get("z_order", 0) or 0), order, shape) for order, shape in enumerate(image)]
    for _, _, shape in sorted(shapes, key=lambda entry: entry[:2]):
        if shape.tag not in AREA_SHAPES:
            raise InvalidValue(f"{item}: a <{shape.tag}>; segal reads polygons and boxes (export brush masks "
                               f"with CVAT's Segmentation mask 1.1 format)")
        label = shape.get("label", "")
        if label not in names:
            raise InvalidValue(f"{item}: a {shape.tag} of label {label!r}, which the export's labels do not list")
        index[polygon2mask((height, width), _corners(shape, item)[:, ::-1] - 0.5)] = names.index(label)
    return index


def _corners(shape, item: str) -> np.ndarray:
    """``[K, 2]`` (x, y) corners of a polygon (``points="x,y;x,y;..."``) or a box (``xtl ytl xbr ybr``)."""
    try:
        if shape.tag == "box":
            left, top, right, bottom = (float(shape.get(key)) for key in ("xtl", "ytl", "xbr", "ybr"))
            corners = np.array([[left, top], [right, top], [right, bottom], [left, bottom]])
        else:
            corners = np.array([[float(v) for v in point.split(",")] for point in shape.get("points", "").split(";")])
    except (TypeError, ValueError):
        corners = np.empty((0,))
    if corners.ndim != 2 or corners.shape[1] != 2 or len(corners) < 3 or not np.isfinite(corners).all():
        raise InvalidValue(f"{item}: a {shape.tag} of label {shape.get('label')!r} has unreadable corners")
    return corners


def _whole(value, item: str, key: str) -> int:
    if value is None or not value.isdigit() or int(value) < 1:
        raise InvalidValue(f"{item} has {key} {value!r}; expected a whole number of pixels")
    return int(value)

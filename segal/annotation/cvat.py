"""CVAT: pre-annotation archives out, its Cityscapes 1.0, Segmentation mask 1.1 or CVAT for images 1.1 exports in.

Out, in ``<out>/``:

* ``cityscapes_1.0.zip``: ``label_colors.txt`` (every Cityscapes label, line
  index = label id) and, per image, ``gtFine/<city>/<image file
  stem>_gtFine_{labelIds,instanceIds,color}.png``, the layout CVAT's
  Cityscapes import takes;
* ``segmentation_mask_1.1.zip``: ``labelmap.txt``, ``ImageSets/Segmentation/
  default.txt`` and ``SegmentationClass/<image file stem>.png`` in the class
  colours;
* ``labels.json``: the task's labels for CVAT's raw label editor;
* ``images.txt``: the images to put in the task, one path per line.

An item is named after its image file (``frankfurt_000000_000294_leftImg8bit``),
so it matches the frame of that file whether the task's images were uploaded
one by one or with their folders. In region mode the pixels outside
the regions to label are left unlabelled, and a band just outside them is
labelled ``segal_regions`` so that annotators see where to work; importing
ignores that label.
"""
import io
import json
import logging
import zipfile
from functools import partial
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..data.image_files import decode_image_bytes, image_bytes_size
from ..errors import InvalidValue
from ..utils.io import atomic_write_bytes, atomic_write_text, check_regular_file
from .label_scheme import LabelScheme, hex_colour, name_key
from .pre_annotation import pre_annotations
from .selection_file import SelectedImage, SelectionFile

logger = logging.getLogger("segal")

CITYSCAPES_ARCHIVE = "cityscapes_1.0.zip"
SEGMENTATION_MASK_ARCHIVE = "segmentation_mask_1.1.zip"
REGIONS_LABEL = "segal_regions"
REGIONS_COLOUR = (0, 255, 255)  # cyan: no Cityscapes class uses it
OUTLINE_WIDTH = 3
LABEL_SUFFIXES = ("_gtFine_labelIds.png", "_gtFine_instanceIds.png")


def cvat_name(name: str) -> str:
    """A class name as CVAT's Cityscapes format writes it: no spaces (``trafficlight``)."""
    return "".join(name.split())


def _item(image: SelectedImage) -> Tuple[str, str]:
    """``(city folder, item id)``: ``('frankfurt', 'frankfurt_000000_000294_leftImg8bit')``."""
    return image.image.parent.name or "default", image.image.stem


def _png(array: np.ndarray) -> bytes:
    return cv2.imencode(".png", array)[1].tobytes()


def _outside_band(mask: np.ndarray) -> np.ndarray:
    kernel = np.ones((2 * OUTLINE_WIDTH + 1,) * 2, np.uint8)
    return (cv2.dilate(mask.astype(np.uint8), kernel) > 0) & ~mask


def _palettes(scheme: LabelScheme) -> Tuple[np.ndarray, np.ndarray]:
    """``[256, 3]`` RGB by label id (``label_colors.txt`` order) and by train id (``labelmap.txt`` order after
    ``background``), each with the region outlines after the classes and black elsewhere."""
    by_label_id, by_train_id = np.zeros((256, 3), np.uint8), np.zeros((256, 3), np.uint8)
    official = scheme.all_labels()
    for label_id, _, colour in official:
        by_label_id[label_id] = colour
    by_label_id[len(official)] = REGIONS_COLOUR
    by_train_id[: len(scheme.colours)] = scheme.colours
    by_train_id[len(scheme.colours)] = REGIONS_COLOUR
    return by_label_id, by_train_id


def _label_files(scheme: LabelScheme, regions: bool) -> Tuple[str, str, list]:
    """``label_colors.txt``, ``labelmap.txt`` and the task's labels (``labels.json``)."""
    official = [(name, colour) for _, name, colour in scheme.all_labels()]
    classes = list(zip(scheme.names, scheme.colours))
    if regions:
        official.append((REGIONS_LABEL, REGIONS_COLOUR))
        classes.append((REGIONS_LABEL, REGIONS_COLOUR))
    label_colors = "".join(f"{r} {g} {b} {cvat_name(name)}\n" for name, (r, g, b) in official)
    labelmap = "# label:color_rgb:parts:actions\nbackground:0,0,0::\n" + "".join(
        f"{cvat_name(name)}:{r},{g},{b}::\n" for name, (r, g, b) in classes)
    labels = [{"name": cvat_name(name), "color": hex_colour(colour), "type": "mask", "attributes": []}
              for name, colour in classes]
    return label_colors, labelmap, labels


def write_cvat_archives(selection: SelectionFile, scheme: LabelScheme, out: Path, image_root: str,
                        progress: bool = True) -> List[Path]:
    """Writes the archives, ``labels.json`` and ``images.txt`` for ``selection`` into ``out``; returns them.

    Segmentation mask 1.1 takes any classes; Cityscapes 1.0 is written for Cityscapes-class data only.
    """
    regions_label_id, regions_index = len(scheme.all_labels()), len(scheme.names)
    to_label_id = scheme.train_to_label_ids()
    colour_by_label_id, colour_by_train_id = _palettes(scheme)  # NO_CLASS (train id 255) stays black: background
    label_colors, labelmap, labels = _label_files(scheme, selection.regions)
    cityscapes, voc, items = io.BytesIO(), io.BytesIO(), []
    with zipfile.ZipFile(cityscapes, "w", zipfile.ZIP_STORED) as city_zip, \
            zipfile.ZipFile(voc, "w", zipfile.ZIP_STORED) as voc_zip:
        for image, predicted, mask in pre_annotations(selection, scheme, progress):
            city, item = _item(image)
            items.append(item)
            label_ids, train_ids = to_label_id[predicted], predicted.copy()
            if mask is not None:
                band = _outside_band(mask)
                label_ids[band], train_ids[band] = regions_label_id, regions_index
            if scheme.is_cityscapes:
                stem = f"gtFine/{city}/{item}"
                city_zip.writestr(f"{stem}_gtFine_labelIds.png", _png(label_ids))
                city_zip.writestr(f"{stem}_gtFine_instanceIds.png", _png(label_ids.astype(np.uint16)))
                city_zip.writestr(f"{stem}_gtFine_color.png", _png(colour_by_label_id[label_ids][:, :, ::-1]))
            voc_zip.writestr(f"SegmentationClass/{item}.png", _png(colour_by_train_id[train_ids][:, :, ::-1]))
        city_zip.writestr("label_colors.txt", label_colors)
        voc_zip.writestr("labelmap.txt", labelmap)
        voc_zip.writestr("ImageSets/Segmentation/default.txt", "".join(f"{item}\n" for item in items))
    archives = {out / CITYSCAPES_ARCHIVE: cityscapes} if scheme.is_cityscapes else {}
    archives[out / SEGMENTATION_MASK_ARCHIVE] = voc
    for path, archive in archives.items():
        atomic_write_bytes(path, archive.getvalue())
    written = [*archives, out / "labels.json", out / "images.txt"]
    atomic_write_text(written[-2], json.dumps(labels, indent=2))
    atomic_write_text(written[-1], "".join(f"{image_root}{image.relative_path()}\n" for image in selection.images))
    return written


#: Bytes one file of an export may inflate to: far above a 100-megapixel label PNG, far below the memory a
#: crafted archive could ask for.
MAX_MEMBER_BYTES = 256 * 1024 * 1024
_ENCRYPTED = 0x1
_COMPRESSIONS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


class _Export:
    """The files of a CVAT export, from a zip archive or an extracted folder, by relative path.

    Every file is read with its size capped (:data:`MAX_MEMBER_BYTES`, counted as it inflates, not as the
    archive declares it); encrypted members and compressions Python cannot read are refused by name.
    """

    def __init__(self, path: Path):
        self.path = path
        if path.is_dir():
            self.names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
            self._zip = None
        else:
            check_regular_file(path, "CVAT export")
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as err:
                raise InvalidValue(f"{path} is not a CVAT export (a .zip archive or its folder): {err}") from None
            self.names = sorted(name for name in self._zip.namelist() if not name.endswith("/"))

    def read(self, name: str) -> bytes:
        where = f"{self.path}: {name}"
        try:
            if self._zip is None:
                with open(check_regular_file(self.path / name, "file"), "rb") as f:
                    return _capped(f, where)
            info = self._zip.getinfo(name)
            if info.flag_bits & _ENCRYPTED:
                raise InvalidValue(f"{where} is encrypted; export the annotations from CVAT without a password")
            if info.compress_type not in _COMPRESSIONS:
                raise InvalidValue(f"{where} uses zip compression method {info.compress_type}, which cannot be "
                                   f"read here; re-pack the archive with Deflate (e.g. zip -r)")
            if info.file_size > MAX_MEMBER_BYTES:
                raise InvalidValue(f"{where} inflates to {info.file_size:,} bytes; segal reads at most "
                                   f"{MAX_MEMBER_BYTES:,} per file")
            with self._zip.open(info) as member:
                return _capped(member, where)
        except (zipfile.BadZipFile, OSError, KeyError, RuntimeError, NotImplementedError, EOFError) as err:
            raise InvalidValue(f"{where}: cannot read it: {err}") from None

    def image(self, name: str, size: Optional[Tuple[int, int]] = None) -> np.ndarray:
        """The decoded image; with ``size`` (``(height, width)``), one of another size is refused before decoding."""
        data, where = self.read(name), f"{self.path}: {name}"
        if size is not None:
            width, height = image_bytes_size(data, where)
            if (height, width) != tuple(size):
                raise InvalidValue(f"{where} is {width}x{height}; its image is {size[1]}x{size[0]}")
        return decode_image_bytes(data, where)


def _capped(stream, where: str) -> bytes:
    """At most :data:`MAX_MEMBER_BYTES` from ``stream``; more is refused, whatever a header declared."""
    data = stream.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise InvalidValue(f"{where} holds more than {MAX_MEMBER_BYTES:,} bytes; segal reads at most that per file")
    return data


def _colour_lines(text: str, where: str, cityscapes: bool) -> List[Tuple[str, Tuple[int, int, int]]]:
    """``(name, colour)`` per line of ``label_colors.txt`` (``r g b name``) or ``labelmap.txt`` (``name:r,g,b::``)."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            if cityscapes:
                r, g, b, name = line.split(maxsplit=3)
            else:
                name, rgb = line.split(":")[:2]
                r, g, b = rgb.split(",")
            entries.append((name.strip(), (int(r), int(g), int(b))))
        except ValueError:
            raise InvalidValue(f"{where}, line {number}: cannot read {line!r}") from None
    return entries


def read_cvat_export(path) -> List[Tuple[str, str, Callable[[], np.ndarray], List[str]]]:
    """Reads a CVAT Cityscapes 1.0, Segmentation mask 1.1 or CVAT for images 1.1 (polygons) export (zip or folder).

    Returns:
        ``(item name, image file stem, load, class names by index)`` per item; ``load((height, width))``
        checks the item's size against the image's, then decodes and checks its class index map ``[H, W]`` int64.

    Raises:
        InvalidValue: It is neither format, or a file in it cannot be read; the message names the file.
    """
    export = _Export(Path(path))
    if "annotations.xml" in export.names:
        from .cvat_polygons import read_cvat_polygons

        return read_cvat_polygons(export)
    if any(name.startswith("gtFine/") for name in export.names):
        return _read_cityscapes(export)
    if any(name.startswith("SegmentationClass/") for name in export.names):
        return _read_segmentation_mask(export)
    raise InvalidValue(f"{path} is neither a CVAT Cityscapes 1.0 export (gtFine/), a Segmentation mask 1.1 export "
                       f"(SegmentationClass/) nor a CVAT for images 1.1 export (annotations.xml)")


def _read_cityscapes(export: _Export) -> list:
    if "label_colors.txt" in export.names:
        entries = _colour_lines(export.read("label_colors.txt").decode("utf-8", "replace"),
                                f"{export.path}: label_colors.txt", cityscapes=True)
        names = [name for name, _ in entries]
        _warn_if_edited(entries, export.path)
        if not any(colour == (0, 0, 0) for _, colour in entries):
            names = ["background", *names]  # a map without a black label gets a background label first
    else:
        names = [name for _, name, _ in LabelScheme.cityscapes().all_labels()]
    items = {}
    for name in export.names:
        for suffix in LABEL_SUFFIXES:
            if name.endswith(suffix):
                item = name[: -len(suffix)]
                if item not in items or suffix == LABEL_SUFFIXES[0]:  # labelIds first, instanceIds otherwise
                    items[item] = name
    if not items:
        raise InvalidValue(f"{export.path} has no gtFine/**/*_gtFine_labelIds.png or *_gtFine_instanceIds.png")
    return [(name, Path(item).name, partial(_cityscapes_ids, export, name, len(names)), names)
            for item, name in sorted(items.items())]


def _warn_if_edited(entries: List[Tuple[str, Tuple[int, int, int]]], path: Path) -> None:
    """Warns, naming the first line, when ``label_colors.txt`` is not the label list segal exported: ids are
    then mapped by the names the file gives them, which is right only if the labels were edited on purpose."""
    exported = [(name, colour) for _, name, colour in LabelScheme.cityscapes().all_labels()]
    if entries == exported:
        return
    differing = next((n for n, (got, want) in enumerate(zip(entries, exported), 1) if got != want),
                     min(len(entries), len(exported)) + 1)
    got = entries[differing - 1] if differing <= len(entries) else "nothing"
    logger.warning("%s: label_colors.txt is not the label list segal exported (line %d: %s, exported %s); "
                   "label ids are mapped by the names in the file", path, differing, got,
                   exported[differing - 1] if differing <= len(exported) else "nothing")


def _cityscapes_ids(export: _Export, name: str, count: int, size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    index = export.image(name, size).astype(np.int64)
    if index.ndim != 2:
        raise InvalidValue(f"{export.path}: {name} is not a single-channel id image")
    if name.endswith(LABEL_SUFFIXES[1]):
        index = np.where(index >= 1000, index // 1000, index)
    if int(index.max(initial=0)) >= count:
        raise InvalidValue(f"{export.path}: {name} holds id {int(index.max())}; the label map has {count} labels")
    return index


def _read_segmentation_mask(export: _Export) -> list:
    if "labelmap.txt" not in export.names:
        raise InvalidValue(f"{export.path} has no labelmap.txt; export with CVAT's Segmentation mask 1.1 format")
    entries = _colour_lines(export.read("labelmap.txt").decode("utf-8", "replace"), f"{export.path}: labelmap.txt",
                            cityscapes=False)
    names = [name for name, _ in entries]
    code = {(r << 16) | (g << 8) | b: position for position, (_, (r, g, b)) in enumerate(entries)}
    found = [(name, Path(name).stem, partial(_class_indices, export, name, code, len(names)), names)
             for name in export.names if name.startswith("SegmentationClass/") and name.endswith(".png")]
    if not found:
        raise InvalidValue(f"{export.path} has no SegmentationClass/*.png")
    return found


def _class_indices(export: _Export, name: str, code: Dict[int, int], count: int,
                   size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """A class mask (colours or indices) as indices into ``labelmap.txt``."""
    image = export.image(name, size)
    if image.ndim == 2:
        index = image.astype(np.int64)
    else:
        rgb = image[:, :, 2::-1].astype(np.int64)
        packed = (rgb[:, :, 0] << 16) | (rgb[:, :, 1] << 8) | rgb[:, :, 2]
        colours, inverse = np.unique(packed, return_inverse=True)
        unknown = [int(c) for c in colours if int(c) not in code]
        if unknown:
            c = unknown[0]
            raise InvalidValue(f"{export.path}: {name} has colour {(c >> 16, (c >> 8) & 255, c & 255)}, which "
                               f"labelmap.txt does not name")
        index = np.array([code[int(c)] for c in colours])[inverse.reshape(packed.shape)]
    if int(index.max(initial=0)) >= count:
        raise InvalidValue(f"{export.path}: {name} holds index {int(index.max())}; labelmap.txt has {count} labels")
    return index


def label_ids_of(index: np.ndarray, names: List[str], scheme: LabelScheme, where: str) -> np.ndarray:
    """Maps an export's class index map to the scheme's label values by class name (``segal_regions`` and
    background to the scheme's unlabelled value).

    Raises:
        InvalidValue: The map uses a class whose name the scheme does not know; the message names it and ``where``.
    """
    known = {name_key(name): label_id for label_id, name, _ in scheme.all_labels()}
    known.update({"background": scheme.unlabelled, name_key(REGIONS_LABEL): scheme.unlabelled})
    table = np.zeros(len(names), dtype=np.uint8)
    for position in np.unique(index).tolist():
        label_id = known.get(name_key(names[position]))
        if label_id is None:
            raise InvalidValue(f"{where}: unknown class name {names[position]!r}; expected the dataset's classes "
                               f"({', '.join(scheme.names[:8])}{', ...' if len(scheme.names) > 8 else ''})")
        table[position] = label_id
    return table[index]

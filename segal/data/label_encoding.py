"""How a dataset's label files encode its classes, and back: index maps, a raw-value map, ADE20K's reduced zero,
or colour masks decoded through a palette.

Every encoding decodes a label file's array into class indices ``0 .. K-1``
with the ignore index elsewhere, and refuses, naming the file, values that are
neither a class nor ignored. ``encode`` writes class indices back in the same
encoding, so labels imported from an annotation tool land in the dataset's own
format.
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..errors import InvalidValue, SegalError

ENCODINGS = ("index", "label_map", "reduce_zero_label", "colour")


class LabelError(SegalError, ValueError):
    """A label file is missing, unreadable or holds values that are no class of its dataset."""


def _colour_code(rgb: np.ndarray) -> np.ndarray:
    """``[..., 3]`` uint8 RGB -> ``[...]`` int64 ``r << 16 | g << 8 | b``."""
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


@dataclass(frozen=True)
class LabelEncoding:
    """One way of writing class indices into label files.

    Attributes:
        kind: One of :data:`ENCODINGS`.
        num_classes: K; decoded labels hold ``0 .. K-1`` and ``ignore_index``.
        ignore_index: The value of pixels that count for no class.
        table: ``label_map``: ``[256]`` raw value -> class index (ignore where unmapped).
        palette: ``colour``: one RGB triple per class.
        known: ``label_map``: the raw values a file may hold (a preset's official ids); ``None`` accepts any, the
            unmapped ones becoming ignored.
        ignore_colour: ``colour``: the RGB of pixels that count for no class (e.g. CamVid's void), if any.
    """

    kind: str
    num_classes: int
    ignore_index: int = 255
    table: Optional[np.ndarray] = field(default=None, compare=False)
    palette: Optional[Tuple[Tuple[int, int, int], ...]] = None
    known: Optional[np.ndarray] = field(default=None, compare=False)
    ignore_colour: Optional[Tuple[int, int, int]] = None

    @classmethod
    def from_config(cls, num_classes: int, ignore_index: int = 255, label_map: Optional[Dict[int, int]] = None,
                    reduce_zero_label: bool = False, palette: Optional[Sequence] = None,
                    colour_labels: bool = False, ignore_colour: Optional[Sequence[int]] = None) -> "LabelEncoding":
        """The encoding a dataset config asks for; at most one of ``label_map``, ``reduce_zero_label`` and
        ``colour_labels`` (which needs ``palette``).

        Raises:
            InvalidValue: Two encodings at once, or a map entry outside 0-255 or naming no class.
        """
        chosen = [name for name, on in (("label_map", label_map is not None), ("reduce_zero_label", reduce_zero_label),
                                        ("colour_labels", colour_labels)) if on]
        if len(chosen) > 1:
            raise InvalidValue(f"dataset: {' and '.join(chosen)} cannot be combined; a label file has one encoding")
        if colour_labels:
            if palette is None:
                raise InvalidValue("dataset.colour_labels needs dataset.palette: the colour of each class")
            ignored = None if ignore_colour is None else tuple(int(c) for c in ignore_colour)
            if ignored is not None and (len(ignored) != 3 or ignored in [tuple(p) for p in palette]):
                raise InvalidValue(f"dataset.ignore_colour {list(ignore_colour)} must be an RGB triple that no class "
                                   f"of dataset.palette has")
            return cls("colour", num_classes, ignore_index, palette=tuple(tuple(int(c) for c in p) for p in palette),
                       ignore_colour=ignored)
        if ignore_colour is not None:
            raise InvalidValue("dataset.ignore_colour applies to colour masks only (dataset.colour_labels=True)")
        if reduce_zero_label:
            return cls("reduce_zero_label", num_classes, ignore_index)
        if label_map is not None:
            table = np.full(256, ignore_index, dtype=np.uint8)
            for raw, index in dict(label_map).items():
                if not (isinstance(raw, int) and 0 <= raw < 256) or not (
                        isinstance(index, int) and (0 <= index < num_classes or index == ignore_index)):
                    raise InvalidValue(f"dataset.label_map: {raw!r}: {index!r} must map a value 0-255 to a class "
                                       f"index 0-{num_classes - 1} or the ignore index {ignore_index}")
                table[raw] = index
            return cls("label_map", num_classes, ignore_index, table=table)
        return cls("index", num_classes, ignore_index)

    @property
    def channels(self) -> int:
        """3 for colour masks, 1 otherwise."""
        return 3 if self.kind == "colour" else 1

    def decode(self, raw: np.ndarray, path: Path) -> np.ndarray:
        """``[H, W]`` uint8 class indices (``ignore_index`` where no class) from a label file's array.

        Args:
            raw: ``[H, W]`` values, or ``[H, W, 3]`` RGB for colour masks.
            path: The file, for messages.

        Raises:
            LabelError: The array has the wrong shape, or a value or colour is no class and not ignored.
        """
        if self.kind == "colour":
            return self._decode_colours(raw, path)
        if raw.ndim != 2 or raw.dtype != np.uint8:
            raise LabelError(f"label file {path} is {raw.dtype} of shape {raw.shape}; expected a single-channel "
                             f"8-bit index image")
        present = np.flatnonzero(np.bincount(raw.ravel(), minlength=256))
        if self.kind == "label_map":
            if self.known is not None:
                self._refuse(present[~np.isin(present, self.known)], path, f"one of the ids {self.known.tolist()}")
            return self.table[raw]
        if self.kind == "reduce_zero_label":
            bad = present[(present > self.num_classes) & (present != self.ignore_index)]
            self._refuse(bad, path, f"values 1-{self.num_classes} (class + 1), 0 or {self.ignore_index}")
            shifted = raw.astype(np.int16) - 1
            return np.where((raw == 0) | (raw == self.ignore_index), self.ignore_index, shifted).astype(np.uint8)
        bad = present[(present >= self.num_classes) & (present != self.ignore_index)]
        self._refuse(bad, path, f"class indices 0-{self.num_classes - 1} or {self.ignore_index}")
        return raw

    def _refuse(self, bad: np.ndarray, path: Path, expected: str) -> None:
        if len(bad):
            raise LabelError(f"label file {path} holds values {bad[:10].tolist()} that are no class; expected "
                             f"{expected}")

    def _decode_colours(self, raw: np.ndarray, path: Path) -> np.ndarray:
        if raw.ndim != 3 or raw.shape[2] != 3 or raw.dtype != np.uint8:
            raise LabelError(f"label file {path} is {raw.dtype} of shape {raw.shape}; expected an RGB colour mask")
        codes = _colour_code(np.asarray(self.palette, dtype=np.uint8))
        packed = _colour_code(raw)
        colours, inverse = np.unique(packed, return_inverse=True)
        lookup = {int(code): index for index, code in enumerate(codes.tolist())}
        if self.ignore_colour is not None:
            lookup[int(_colour_code(np.asarray(self.ignore_colour, dtype=np.uint8)))] = self.ignore_index
        unknown = [int(c) for c in colours if int(c) not in lookup]
        if unknown:
            c = unknown[0]
            raise LabelError(f"label file {path} has colour {(c >> 16, (c >> 8) & 255, c & 255)}, which is in no "
                             f"class of dataset.palette")
        return np.array([lookup[int(c)] for c in colours], dtype=np.uint8)[inverse.reshape(packed.shape)]

    def encode(self, indices: np.ndarray) -> np.ndarray:
        """The label file's array for ``[H, W]`` class indices (``ignore_index`` where unlabelled): a
        ``label_map`` writes each class as the lowest raw value mapped to it and unlabelled pixels as the lowest
        unmapped value; a colour mask writes unlabelled pixels in ``ignore_colour`` (black without one)."""
        indices = np.asarray(indices, dtype=np.uint8)
        if self.kind == "index":
            return indices
        if self.kind == "reduce_zero_label":
            return np.where(indices == self.ignore_index, 0, indices.astype(np.int16) + 1).astype(np.uint8)
        if self.kind == "label_map":
            inverse = np.full(256, 0, dtype=np.uint8)
            unmapped = [raw for raw in range(256) if self.table[raw] == self.ignore_index]
            inverse[self.ignore_index] = unmapped[0] if unmapped else 0
            for raw in range(255, -1, -1):  # the lowest raw value of each class
                if self.table[raw] != self.ignore_index:
                    inverse[self.table[raw]] = raw
            return inverse[indices]
        palette = np.zeros((256, 3), np.uint8)
        palette[: len(self.palette)] = self.palette
        palette[self.ignore_index] = self.ignore_colour or (0, 0, 0)
        return palette[indices]

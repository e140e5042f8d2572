"""Reading image and label files with their size checked first, so a huge or broken file is one clear error.

A PNG of 30000 x 30000 pixels is a few kilobytes on disk and gigabytes in
memory (a decompression bomb). The header is read first, and a file above
:data:`MAX_IMAGE_PIXELS` is refused before any pixel is decoded.
"""
import io
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..errors import SegalError

#: Pixels an image may have: 100 megapixels, ~48x a Cityscapes frame (2048 x 1024). Larger ones are
#: refused; tile them first.
MAX_IMAGE_PIXELS = 100_000_000


class ImageFileError(SegalError, ValueError):
    """An image or label file cannot be read, or is too large to read safely."""


def image_size(path) -> tuple:
    """``(width, height)`` from the file's header, without decoding its pixels.

    Raises:
        ImageFileError: The file is not an image, or has more than :data:`MAX_IMAGE_PIXELS` pixels.
    """
    return _header_size(path, path)


def _header_size(source, name) -> tuple:
    """``(width, height)`` of ``source`` (a path or a file object) from its header; errors name ``name``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                width, height = image.size
    except Image.DecompressionBombError as err:
        raise ImageFileError(f"{name}: image too large to read safely ({err}); segal reads at most "
                             f"{MAX_IMAGE_PIXELS:,} pixels per image; tile or downscale it") from None
    except Image.UnidentifiedImageError:
        raise ImageFileError(f"cannot read image {name}: not an image file") from None
    except (OSError, ValueError, SyntaxError) as err:
        raise ImageFileError(f"cannot read image {name}: {type(err).__name__}: {err}") from None
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageFileError(f"{name}: {width}x{height} pixels is more than segal reads per image "
                             f"({MAX_IMAGE_PIXELS:,}); tile or downscale it")
    return width, height


def image_bytes_size(data: bytes, name: str) -> tuple:
    """``(width, height)`` of an image held in memory, from its header; errors name ``name``.

    Raises:
        ImageFileError: The bytes are not an image, or one too large to read safely.
    """
    return _header_size(io.BytesIO(data), name)


def decode_image_bytes(data: bytes, name: str, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    """Decodes an image held in memory (a file inside an archive) after checking its header, as
    :func:`read_image_file` does for files; errors name ``name``.

    Raises:
        ImageFileError: The bytes are not an image, or one too large to read safely.
    """
    _header_size(io.BytesIO(data), name)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        raise ImageFileError(f"cannot decode image {name}")
    return image


def read_image_file(path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """Decodes an image with OpenCV after :func:`image_size` has checked its header.

    Args:
        path: The file.
        flags: ``cv2.IMREAD_COLOR`` (``[H, W, 3]`` BGR) or ``cv2.IMREAD_UNCHANGED`` (label files).

    Raises:
        ImageFileError: The file is missing, not an image, too large, or cannot be decoded
            (e.g. no memory for it); the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"image file not found: {path}")
    image_size(path)
    try:
        image = cv2.imread(str(path), flags)
    except cv2.error as err:
        raise ImageFileError(f"cannot decode image {path}: {' '.join(str(err).split())}") from None
    if image is None:
        raise ImageFileError(f"cannot decode image {path}")
    return image


def read_index_image(path) -> np.ndarray:
    """A single-channel label file as its stored values ``[H, W]``: an 8-bit grey PNG as is, a palette PNG as its
    palette indices (OpenCV would expand those to colours), after :func:`image_size` has checked its header.

    Raises:
        ImageFileError: The file is missing, not an image, too large, or cannot be decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"image file not found: {path}")
    image_size(path)
    try:
        with Image.open(path) as image:
            if image.mode in ("P", "L", "I;16", "I"):
                return np.asarray(image)
    except (OSError, ValueError) as err:
        raise ImageFileError(f"cannot decode image {path}: {err}") from None
    return read_image_file(path, cv2.IMREAD_UNCHANGED)

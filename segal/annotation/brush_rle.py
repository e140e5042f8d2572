"""Label Studio's brush RLE: the run-length code its ``BrushLabels`` results carry in ``value.rle``.

The code packs a flat array of 8-bit RGBA values (``H * W * 4``) as a bit
stream, most significant bit first:

* a header: the value count (32 bits), the word size minus one (5 bits) and
  four run-length field widths minus one (4 bits each; ``3, 4, 8, 16``);
* then chunks, each ``flag (1) | width index (2) | length - 1 (width bits)``
  followed by one word (flag 1: a run of one value) or ``length`` words
  (flag 0: literal values).

A mask is written as four equal channels per pixel, so every chunk is a run;
the stream is padded with zero bits to whole bytes, plus one more byte when it
ends on a byte boundary, as Label Studio's own Python encoder does (its
decoder and front end ignore the padding). The decoder reads both chunk kinds,
since the Label Studio front end writes literal chunks for painted pixels.
"""
from typing import List, Optional, Sequence

import numpy as np

from ..errors import InvalidValue

#: Widths of the run-length field, indexed by the 2-bit width index.
RUN_WIDTHS = (3, 4, 8, 16)
WORD_BITS = 8
_HEADER_BITS = 32 + 5 + 4 * 4


class BrushRLEError(InvalidValue):
    """A brush RLE that does not decode to the values it announces."""


def _bits(values: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """The concatenated big-endian bit fields ``values[i]`` of ``widths[i]`` bits, as a uint8 0/1 array."""
    positions = np.arange(int(widths.max()) if len(widths) else 0)
    # row i holds value i's bits right-aligned in max(widths) columns; keep the last widths[i] of each row
    shifts = widths[:, None] - 1 - positions[None, :]
    bits = ((values[:, None] >> np.maximum(shifts, 0)) & 1).astype(np.uint8)
    return bits[shifts >= 0]


def encode_mask(mask: np.ndarray) -> List[int]:
    """Encodes a mask as Label Studio brush RLE bytes.

    Args:
        mask: ``[H, W]`` uint8; each pixel's value goes into all four RGBA
            channels (Label Studio reads the alpha channel, 255 = painted).

    Returns:
        The RLE as a list of byte values, as ``value.rle`` holds it.
    """
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise InvalidValue(f"a brush mask is [H, W] uint8, got {mask.dtype} of shape {mask.shape}")
    flat = mask.ravel()
    starts = np.flatnonzero(np.concatenate(([True], flat[1:] != flat[:-1])))
    run_values = flat[starts].astype(np.int64)
    run_lengths = np.diff(np.append(starts, flat.size)).astype(np.int64) * 4
    # a run gets the narrowest field its length fits; runs over 2**16 values become pieces of 2**16 and a
    # remainder, all in the widest field
    longest = 1 << RUN_WIDTHS[-1]
    pieces = (run_lengths - 1) // longest + 1
    values = np.repeat(run_values, pieces)
    lengths = np.full(int(pieces.sum()), longest, dtype=np.int64)
    lengths[np.cumsum(pieces) - 1] = run_lengths - (pieces - 1) * longest
    narrowest = np.minimum(np.searchsorted(np.array([1 << w for w in RUN_WIDTHS]), run_lengths), len(RUN_WIDTHS) - 1)
    width_index = np.repeat(narrowest, pieces)
    run_width = np.array(RUN_WIDTHS, dtype=np.int64)[width_index]
    codes = (((1 << 2 | width_index) << run_width | (lengths - 1)) << WORD_BITS) | values
    header = _bits(np.array([flat.size * 4, WORD_BITS - 1, *[w - 1 for w in RUN_WIDTHS]], dtype=np.int64),
                   np.array([32, 5, 4, 4, 4, 4], dtype=np.int64))
    stream = np.concatenate((header, _bits(codes, 3 + run_width + WORD_BITS)))
    stream = np.concatenate((stream, np.zeros(8 - stream.size % 8, dtype=np.uint8)))
    return np.packbits(stream).tolist()


class _BitReader:
    """Reads big-endian bit fields from a byte string."""

    _WEIGHTS = 1 << np.arange(31, -1, -1, dtype=np.int64)

    def __init__(self, data: bytes):
        self.bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))  # one byte per bit; fields widen as read
        self.position = 0

    def read(self, width: int) -> int:
        end = self.position + width
        if end > self.bits.size:
            raise BrushRLEError("brush RLE ends before its last value")
        value = int(self.bits[self.position:end].astype(np.int64) @ self._WEIGHTS[32 - width:])
        self.position = end
        return value

    def read_words(self, count: int, width: int) -> np.ndarray:
        end = self.position + count * width
        if end > self.bits.size:
            raise BrushRLEError("brush RLE ends before its last value")
        fields = self.bits[self.position:end].reshape(count, width).astype(np.int64)
        self.position = end
        return fields @ self._WEIGHTS[32 - width:]


def decode_rle(rle: Sequence[int], expected: Optional[int] = None) -> np.ndarray:
    """Decodes Label Studio brush RLE to its flat values (``H * W * 4`` RGBA for an image).

    Args:
        rle: The RLE bytes.
        expected: The value count the RLE must announce, checked before anything is allocated.

    Raises:
        BrushRLEError: The bytes are not a brush RLE, announce another count than ``expected``, or end early.
    """
    try:
        data = bytes(rle)
    except (TypeError, ValueError):
        raise BrushRLEError("brush RLE must be a list of byte values 0-255") from None
    if len(data) * 8 < _HEADER_BITS:
        raise BrushRLEError(f"brush RLE of {len(data)} bytes is shorter than its header")
    reader = _BitReader(data)
    count, word = reader.read(32), reader.read(5) + 1
    if expected is not None and count != expected:
        raise BrushRLEError(f"brush RLE holds {count} values; expected {expected}")
    widths = [reader.read(4) + 1 for _ in range(4)]
    if word > 8:
        raise BrushRLEError(f"brush RLE with {word}-bit values; Label Studio writes 8-bit RGBA")
    # each chunk takes at least 3 + min(widths) + word bits and holds at most 2 ** max(widths) values: a count
    # past what the bytes can hold is refused before the output is allocated
    most = (len(data) * 8 - _HEADER_BITS) // (3 + min(widths) + word) * (1 << max(widths))
    if count > most:
        raise BrushRLEError(f"brush RLE of {len(data)} bytes announces {count} values; it can hold at most {most}")
    out = np.zeros(count, dtype=np.uint8)
    i = 0
    while i < count:
        is_run = reader.read(1)
        end = i + 1 + reader.read(widths[reader.read(2)])
        if end > count:
            raise BrushRLEError(f"brush RLE runs past its {count} values")
        if is_run:
            out[i:end] = reader.read(word)
        else:
            out[i:end] = reader.read_words(end - i, word)
        i = end
    return out


def decode_mask(rle: Sequence[int], height: int, width: int) -> np.ndarray:
    """``[H, W]`` bool: the painted pixels (alpha at least 128) of a brush RLE for an image of that size.

    Raises:
        BrushRLEError: The RLE does not hold ``height * width`` RGBA pixels.
    """
    try:
        values = decode_rle(rle, expected=height * width * 4)
    except BrushRLEError as err:
        raise BrushRLEError(f"{err} (a {width}x{height} image)") from None
    return values.reshape(height, width, 4)[:, :, 3] >= 128

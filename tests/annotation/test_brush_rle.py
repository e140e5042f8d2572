"""Label Studio's brush RLE: segal's encoder and decoder against a plain bit-string writer of the format and
against each other. (Bit-exactness with label-studio-sdk is checked in test_labelstudio_server.py.)"""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segal.annotation.brush_rle import BrushRLEError, decode_mask, decode_rle, encode_mask

DATA = Path(__file__).resolve().parent / "files"


def bit_string(chunks, count, word=8, widths=(3, 4, 8, 16)):
    """The format written out field by field: ``chunks`` are ``('run', length, value)`` or ``('literal', values)``."""
    bits = f"{count:032b}{word - 1:05b}" + "".join(f"{w - 1:04b}" for w in widths)
    for chunk in chunks:
        length = chunk[1] if chunk[0] == "run" else len(chunk[1])
        index = next(i for i, w in enumerate(widths) if length - 1 < 2 ** w)
        bits += ("1" if chunk[0] == "run" else "0") + f"{index:02b}" + f"{length - 1:0{widths[index]}b}"
        values = [chunk[2]] if chunk[0] == "run" else chunk[1]
        bits += "".join(f"{v:0{word}b}" for v in values)
    bits += "0" * (-len(bits) % 8)
    return [int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)]


def test_runs_and_literal_chunks_decode_as_written():
    """The Label Studio front end writes painted RGBA pixels as literal chunks; segal's encoder only runs."""
    chunks = [("run", 12, 0), ("literal", [255, 0, 0, 255, 250, 1, 2, 255]), ("run", 300, 7), ("literal", [9])]
    expected = np.array([0] * 12 + [255, 0, 0, 255, 250, 1, 2, 255] + [7] * 300 + [9], np.uint8)
    assert np.array_equal(decode_rle(bit_string(chunks, len(expected))), expected)


def test_decoding_a_mask_reads_the_alpha_channel():
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[0, 1] = (200, 10, 10, 255)  # painted
    rgba[1, 2] = (200, 10, 10, 100)  # faint, below half
    rle = bit_string([("literal", rgba.ravel().tolist())], rgba.size)
    assert decode_mask(rle, 2, 3).tolist() == [[False, True, False], [False, False, False]]


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (64, 48), (300, 301)])
def test_encoding_then_decoding_gives_the_mask_back(shape):
    rng = np.random.default_rng(sum(shape))
    for mask in (rng.integers(0, 256, shape).astype(np.uint8), (rng.random(shape) > 0.7).astype(np.uint8) * 255,
                 np.zeros(shape, np.uint8)):
        assert np.array_equal(decode_rle(encode_mask(mask)), np.repeat(mask.ravel(), 4))


def test_the_encoder_writes_the_fields_of_the_format():
    mask = np.array([[0, 0, 255]], np.uint8)  # 8 values of 0, then 4 of 255: 53 + 2 * 14 bits, padded to 88
    assert encode_mask(mask) == bit_string([("run", 8, 0), ("run", 4, 255)], 12)


@pytest.mark.parametrize("rle, message", [
    ([1, 2, 3], "shorter than its header"),
    (bit_string([("run", 8, 0)], 16), "ends before its last value"),
    (bit_string([("run", 20, 0)], 16), "runs past its 16 values"),
    ("abc", "list of byte values"),
])
def test_a_broken_rle_is_refused(rle, message):
    with pytest.raises(BrushRLEError, match=message):
        decode_rle(rle)


def test_a_mask_of_the_wrong_size_is_refused():
    with pytest.raises(BrushRLEError, match=r"holds 16 values; expected 48 \(a 4x3 image\)"):
        decode_mask(encode_mask(np.zeros((2, 2), np.uint8)), 3, 4)


def test_a_huge_announced_count_is_refused_before_anything_is_allocated():
    rle = bit_string([], 2 ** 32 - 1)  # an export may claim 4 billion values in 11 bytes
    with pytest.raises(BrushRLEError, match="holds 4294967295 values; expected 32"):
        decode_mask(rle, 2, 4)


def test_a_stroke_painted_in_label_studio_decodes_as_label_studio_sdk_decodes_it():
    """Label Studio's front end writes literal chunks and anti-aliased alpha. The stroke in tests/data was painted
    in Label Studio 1.23.2's labelling view (headless Chromium) and exported; the PNG beside it holds the alpha
    that label-studio-sdk's decoder gave for it."""
    stroke = json.loads((DATA / "labelstudio_stroke.json").read_text())["result"]
    alpha = np.array(Image.open(DATA / "labelstudio_stroke_alpha_sdk.png"))
    height, width = stroke["original_height"], stroke["original_width"]
    values = decode_rle(stroke["value"]["rle"]).reshape(height, width, 4)
    assert np.array_equal(values[:, :, 3], alpha) and len(np.unique(alpha)) > 2
    assert np.array_equal(decode_mask(stroke["value"]["rle"], height, width), alpha >= 128)

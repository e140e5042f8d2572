"""What a fault campaign sent to the import and the export: small files that ask for gigabytes, malformed
exports, and values accepted silently before. Each is one line naming the task or file, under a memory cap,
with nothing written."""
import json
import os
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.tools import run_main, run_main_capped, snapshot
from test_label_import import brush, corrected, finished, write_export

from segal.annotation.brush_rle import BrushRLEError, decode_rle


def _import_args(export, root, source="labelstudio"):
    return [str(export), "--from", source, "--data-root", str(root)]


def _one_line(code, err, expected):
    assert code == 1 and expected in err and len(err.strip().splitlines()) == 1, err[-2000:]


def _huge_rle(values: int) -> list:
    """A 20-byte brush RLE that announces ``values`` values."""
    header = (values << 21) | (7 << 16) | (2 << 12) | (3 << 8) | (7 << 4) | 15  # count, 8-bit words, widths
    return list((header << 11).to_bytes(8, "big")) + [0] * 12


def test_an_rle_announcing_more_values_than_its_bytes_hold_is_refused_before_allocating():
    with pytest.raises(BrushRLEError, match="announces 4294967295 values; it can hold at most"):
        decode_rle(_huge_rle(2**32 - 1))


@pytest.mark.subprocess
@pytest.mark.parametrize("height, width, rle, expected", [
    (100_000, 100_000, None, "result 0 (road) is 100000x100000; the image is 128x64"),
    (64, 128, _huge_rle(2**32 - 1), "brush RLE holds 4294967295 values; expected 32768"),
])
def test_memory_bombs_in_a_labelstudio_export_stay_under_a_gigabyte(pending, tasks, tmp_path, height, width, rle,
                                                                    expected):
    layer = brush("road", np.ones((64, 128), bool))
    layer.update(original_height=height, original_width=width)
    if rle is not None:
        layer["value"]["rle"] = rle
    export = write_export(tmp_path / "export.json", [finished(tasks[0], [layer], 7)])
    before = snapshot(pending.root)
    _one_line(*run_main_capped("import_labels", _import_args(export, pending.root)), expected)
    assert snapshot(pending.root) == before


def _selected_stem(pending):
    entry = json.loads(pending.selection.read_text())["selection"][0]
    return Path(entry["image"]).name.replace("_leftImg8bit.png", "")


@pytest.mark.subprocess
def test_a_cvat_member_that_inflates_to_gigabytes_is_refused_under_a_gigabyte(pending, tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open(f"gtFine/default/x/{_selected_stem(pending)}_gtFine_labelIds.png", "w", force_zip64=True) as m:
            block = bytes(1 << 20)
            for _ in range(1200):  # 1.2 GB of zeros, about 1.2 MB deflated
                m.write(block)
    assert archive.stat().st_size < 5 << 20
    _one_line(*run_main_capped("import_labels", _import_args(archive, pending.root, "cvat")),
              "inflates to 1,258,291,200 bytes; segal reads at most 268,435,456 per file")


def _patched_zip(path: Path, member: str, flag_bits: int = 0, method: int = None) -> Path:
    """A one-member zip whose headers say the member is encrypted (``flag_bits=1``) or uses compression
    ``method`` (9: Deflate64), as archives from other tools may."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(member, cv2.imencode(".png", np.zeros((64, 128), np.uint8))[1].tobytes())
    data = bytearray(path.read_bytes())
    for signature, flags_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        at = data.index(signature)
        data[at + flags_at] |= flag_bits
        if method is not None:
            data[at + method_at:at + method_at + 2] = method.to_bytes(2, "little")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("flag_bits, method, expected", [
    (1, None, "is encrypted; export the annotations from CVAT without a password"),
    (0, 9, "uses zip compression method 9, which cannot be read here"),
])
def test_encrypted_or_deflate64_cvat_members_are_one_line(pending, tmp_path, capsys, flag_bits, method, expected):
    member = f"gtFine/default/x/{_selected_stem(pending)}_gtFine_labelIds.png"
    archive = _patched_zip(tmp_path / "export.zip", member, flag_bits, method)
    _one_line(*run_main("import_labels", _import_args(archive, pending.root, "cvat"), capsys), expected)


def _annotated(task, task_id, **annotation):
    results, _ = corrected(task)
    return finished(task, results, task_id, **annotation)


@pytest.mark.parametrize("make_export, expected", [
    (lambda t: [_annotated(t[0], 7, was_cancelled="false")], "annotation 0 has was_cancelled 'false'"),
    (lambda t: [{**_annotated(t[0], 7), "annotations": [_annotated(t[0], 7)["annotations"][0],
                                                         {**_annotated(t[0], 7)["annotations"][0], "id": "b"}]}],
     "annotation 1 has id 'b'; expected a number"),
    (lambda t: "[" * 100_000 + "]" * 100_000, "is not a Label Studio JSON export: it is nested too deeply"),
])
def test_malformed_labelstudio_exports_are_one_line(pending, tasks, tmp_path, capsys, make_export, expected):
    made = make_export(tasks)
    export = tmp_path / "export.json"
    export.write_text(made if isinstance(made, str) else json.dumps(made))
    _one_line(*run_main("import_labels", _import_args(export, pending.root), capsys), expected)


def test_an_export_that_is_a_fifo_is_refused_instead_of_blocking(pending, tmp_path, capsys):
    fifo = tmp_path / "export.json"
    os.mkfifo(fifo)
    _one_line(*run_main("import_labels", _import_args(fifo, pending.root), capsys), "is not a regular file")
    _one_line(*run_main("import_labels", _import_args(fifo, pending.root, "cvat"), capsys), "is not a regular file")


def test_a_dataset_with_the_same_names_but_other_images_is_refused(pending, tasks, tmp_path, capsys):
    """Without --state, the digest the export recorded tells the run's images from look-alikes."""
    root = pending.dataset_copy(tmp_path / "other")
    image = root / tasks[0]["data"]["segal_image"]
    cv2.imwrite(str(image), 255 - cv2.imread(str(image)))  # same name, same size, other pixels
    export = write_export(tmp_path / "export.json", [_annotated(tasks[0], 7)])
    before = snapshot(root)
    _one_line(*run_main("import_labels", _import_args(export, root), capsys),
              "is not the image the task was exported for (its SHA-256 differs)")
    assert snapshot(root) == before


def _edited_selection(pending, tmp_path, edit):
    saved = json.loads(pending.selection.read_text())
    edit(saved)
    path = tmp_path / "selection_step1.json"
    path.write_text(json.dumps(saved))
    return path


def _test_split_image(saved):
    image = saved["selection"][0]["image"]
    saved["selection"][0]["image"] = image.replace("/leftImg8bit/train/", "/leftImg8bit/val/")


@pytest.mark.parametrize("edit, expected", [
    (lambda s: s["selection"][0].update(score=float("nan")), "'score' is nan; expected a finite number"),
    (lambda s: s["selection"][1].update(id=s["selection"][0]["id"]), "appears twice"),
    (_test_split_image, "is in the val split; the selection was made from the train split"),
    (lambda s: [s.pop("mode"), s["selection"][0].update(mask="m.png")], "has region masks but no 'mode'"),
    (lambda s: s.update(mode="pixels"), "'mode' is 'pixels'"),
])
def test_an_edited_selection_is_refused_by_the_export(pending, tmp_path, capsys, edit, expected):
    selection = _edited_selection(pending, tmp_path, edit)
    code, err = run_main("export", [str(selection), "--to", "labelstudio", "--out", str(tmp_path / "out")], capsys)
    _one_line(code, err, expected)
    assert not (tmp_path / "out" / "tasks.json").exists()

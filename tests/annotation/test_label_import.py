"""Finished labels back from Label Studio and CVAT exports: label files pixel for pixel, and every bad export
refused in one line with nothing written."""
import json
import struct
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from cityscapesscripts.helpers.labels import name2label, trainId2label
from helpers.annotation_runs import make_pending_selection
from helpers.tools import load_tool, run_main, snapshot
from PIL import Image
from sklearn.metrics import jaccard_score

from segal.annotation.agreement import agreement, pair_iou
from segal.annotation.brush_rle import decode_mask, encode_mask
from segal.annotation.labelstudio import polygon_mask


def brush(name, mask):
    height, width = mask.shape
    return {"from_name": "label", "to_name": "image", "type": "brushlabels", "original_width": width,
            "original_height": height, "value": {"format": "rle", "rle": encode_mask(mask.astype(np.uint8) * 255),
                                                 "brushlabels": [name]}}


def polygon(name, points, width=128, height=64):
    """A polygon result as Label Studio saves it: corners in percent of the image's width and height."""
    return {"from_name": "polygon", "to_name": "image", "type": "polygonlabels", "original_width": width,
            "original_height": height, "value": {"points": points, "closed": True, "polygonlabels": [name]}}


def finished(task, results, task_id, **annotation):
    """A task as Label Studio exports it, with one annotation holding ``results``."""
    return {"id": task_id, "data": task["data"], "predictions": task["predictions"],
            "annotations": [{"id": 100 + task_id, "result": results, "was_cancelled": False,
                             "updated_at": "2026-12-01T10:00:00Z", **annotation}]}


def prediction_layers(task):
    return [(r["value"]["brushlabels"][0], decode_mask(r["value"]["rle"], r["original_height"], r["original_width"]))
            for r in task["predictions"][0]["result"]]


def corrected(task):
    """The annotator's correction: a car painted over the middle of the prediction. Returns results and label ids."""
    layers = prediction_layers(task)
    car = np.zeros_like(layers[0][1])
    car[20:40, 30:70] = True
    results = [brush(name, mask & ~car) for name, mask in layers] + [brush("car", car)]
    truth = np.zeros(car.shape, np.uint8)
    for name, mask in layers:
        truth[mask] = name2label[name].id
    truth[car] = name2label["car"].id
    return results, truth


def label_file(root, task):
    relative = task["data"]["segal_image"].replace("leftImg8bit/", "gtFine/", 1)
    return root / relative.replace("_leftImg8bit.png", "_gtFine_labelIds.png")


def write_export(path, tasks):
    path.write_text(json.dumps(tasks))
    return path


def run_import(export, root, capsys, *extra, source="labelstudio"):
    """Runs the tool where it must fail: ``(exit code, stderr)``."""
    return run_main("import_labels", [str(export), "--from", source, "--data-root", str(root), *extra], capsys)


def import_ok(export, root, *extra, source="labelstudio"):
    load_tool("import_labels").main([str(export), "--from", source, "--data-root", str(root), *extra])


def test_a_labelstudio_export_becomes_label_files_and_a_rerun_changes_nothing(pending, tasks, tmp_path, capsys):
    root = pending.dataset_copy(tmp_path / "city")
    results, truth = corrected(tasks[0])
    accepted = [r for r in tasks[1]["predictions"][0]["result"]]
    export = write_export(tmp_path / "export.json", [
        finished(tasks[0], results, 1, lead_time=31.5),
        finished(tasks[1], accepted, 2),
        {"id": 3, "data": tasks[2]["data"], "annotations": []},  # not annotated yet
    ])
    load_tool("import_labels").main([str(export), "--from", "labelstudio", "--data-root", str(root),
                                     "--state", str(pending.state)])
    out = capsys.readouterr().out
    assert "wrote 2 label files" in out and "1 task without a finished annotation yet" in out
    assert np.array_equal(cv2.imread(str(label_file(root, tasks[0])), cv2.IMREAD_UNCHANGED), truth)
    accepted_truth = np.zeros_like(truth)
    for name, mask in prediction_layers(tasks[1]):
        accepted_truth[mask] = name2label[name].id
    assert np.array_equal(cv2.imread(str(label_file(root, tasks[1])), cv2.IMREAD_UNCHANGED), accepted_truth)
    assert not label_file(root, tasks[2]).exists()
    times = json.loads((pending.state.parent / "annotation_times.json").read_text())
    assert times == {tasks[0]["data"]["segal_image"]: 31.5}, "the annotator's lead_time, by image"
    before = snapshot(root / "gtFine")
    target = label_file(root, tasks[0])
    stale = target.parent / f".{target.name}.k1ll3d.tmp"  # what an import killed mid-write leaves
    stale.write_bytes(b"half a png")
    load_tool("import_labels").main([str(export), "--from", "labelstudio", "--data-root", str(root),
                                     "--state", str(pending.state)])
    assert "wrote 0 label files, 2 already up to date" in capsys.readouterr().out
    assert not stale.exists(), "the rerun removes the killed import's temporary file"
    assert snapshot(root / "gtFine") == before


def test_the_latest_finished_annotation_counts_and_cancelled_ones_do_not(pending, tasks, tmp_path, capsys):
    root = pending.dataset_copy(tmp_path / "city")
    results, truth = corrected(tasks[0])
    task = finished(tasks[0], results, 1)
    sky = np.ones(truth.shape, bool)
    task["annotations"] += [
        {"id": 5, "result": [brush("sky", sky)], "was_cancelled": False, "updated_at": "2026-11-30T10:00:00Z"},
        {"id": 6, "result": [brush("road", sky)], "was_cancelled": True, "updated_at": "2026-12-02T10:00:00Z"},
    ]
    import_ok(write_export(tmp_path / "export.json", [task]), root)
    assert np.array_equal(cv2.imread(str(label_file(root, tasks[0])), cv2.IMREAD_UNCHANGED), truth)


def _overlapping(task):
    layers = prediction_layers(task)
    everything = np.ones_like(layers[0][1])
    return [brush("road", everything), brush("sky", everything)]


@pytest.mark.parametrize("make_results, expected", [
    (lambda task: [brush("lamp post", np.ones((64, 128), bool))], "unknown class name 'lamp post'"),
    (lambda task: [brush("road", np.ones((32, 64), bool))], "result 0 (road) is 64x32; the image is 128x64"),
    (_overlapping, "its sky and road layers overlap on 8192 pixels"),
    (lambda task: [{**brush("road", np.ones((64, 128), bool)), "type": "rectanglelabels"}], "is a 'rectanglelabels'"),
    (lambda task: [polygon("road", [[10, 10], [50, 10]])], "points must be three or more [x, y] pairs"),
    (lambda task: [polygon("road", [[10, 10], [50, "x"], [5, 5]])], "points must be three or more"),
    (lambda task: [{**brush("road", np.ones((64, 128), bool)), "original_height": 60}], "is 128x60; the image"),
    # what the fault campaign sent: each is one line naming the task, found before anything is decoded
    (lambda task: [{**brush("road", np.ones((64, 128), bool)), "original_width": 128.5}],
     "original_width is 128.5; expected a whole number"),
    (lambda task: [{**brush("road", np.ones((64, 128), bool)), "value": ["rle", 1]}], "has value ['rle', 1]"),
    (lambda task: [{**brush("road", np.ones((64, 128), bool)), "value": "road"}], "has value 'road'"),
    (lambda task: [brush("road", np.ones((64, 128), bool)), 7, "junk"], "result 1 is int 7, not a result object"),
    ("lead_time", "its annotation's lead_time is -3; expected seconds >= 0"),
])
def test_a_bad_task_is_refused_naming_it_and_nothing_is_written(pending, tasks, tmp_path, capsys, make_results,
                                                                  expected):
    root = pending.dataset_copy(tmp_path / "city")
    good, _ = corrected(tasks[1])
    bad = finished(tasks[0], corrected(tasks[0])[0], 7, lead_time=-3) if make_results == "lead_time" else \
        finished(tasks[0], make_results(tasks[0]), 7)
    export = write_export(tmp_path / "export.json", [finished(tasks[1], good, 2), bad])
    before = snapshot(root)
    code, err = run_import(export, root, capsys, "--state", str(pending.state), "--overlap", "refuse")
    assert code == 1 and expected in err and "task 7" in err and len(err.strip().splitlines()) == 1, err
    assert snapshot(root) == before


def test_polygons_are_rasterised_in_order_over_the_brush_layers(pending, tasks, tmp_path, capsys):
    root = pending.dataset_copy(tmp_path / "city")
    everything = np.ones((64, 128), bool)
    box = [[25, 25], [75, 25], [75, 75], [25, 75]]  # columns 32..95, rows 16..47: corners on pixel edges
    corner = [[0, 0], [50, 0], [0, 100]]
    export = write_export(tmp_path / "export.json", [finished(tasks[0], [
        brush("road", everything), polygon("car", box), polygon("sky", corner)], 1)])
    import_ok(export, root, "--state", str(pending.state))
    written = cv2.imread(str(label_file(root, tasks[0])), cv2.IMREAD_UNCHANGED)
    sky = polygon_mask(corner, 64, 128)
    expected = np.full((64, 128), name2label["road"].id, np.uint8)
    expected[16:48, 32:96] = name2label["car"].id
    expected[sky] = name2label["sky"].id
    np.testing.assert_array_equal(written, expected)
    assert sky[0, 0] and sky[63, 0] and not sky[0, 70] and sky.sum() == pytest.approx(64 * 128 / 4, rel=0.05)


def test_a_polygon_covers_the_pixels_whose_centres_it_holds():
    """Against OpenCV's polygon fill at the pixel centres (which takes the outline's pixels too): they may differ
    only next to the outline."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        scattered = rng.uniform(0, 100, size=(int(rng.integers(3, 9)), 2)).astype(np.float32)
        corners = cv2.convexHull(scattered)[:, 0].astype(np.float64)  # convex: no fill rule to disagree on
        ours = polygon_mask(corners.tolist(), 48, 80)
        centres = corners * [80 / 100, 48 / 100] - 0.5
        reference = np.zeros((48, 80), np.uint8)
        cv2.fillPoly(reference, [np.round(centres * 256).astype(np.int32)], 1, shift=8)
        outline = np.zeros((48, 80), np.uint8)
        cv2.polylines(outline, [np.round(centres * 256).astype(np.int32)], True, 1, shift=8)
        near_outline = cv2.dilate(outline, np.ones((3, 3), np.uint8)).astype(bool)
        assert not ((ours != reference.astype(bool)) & ~near_outline).any()


def test_overlaps_go_to_the_later_layer_and_are_counted(pending, tasks, tmp_path, capsys):
    """A correction painted in Label Studio over a pre-annotated layer overlaps it: the later layer wins."""
    root = pending.dataset_copy(tmp_path / "city")
    export = write_export(tmp_path / "export.json", [finished(tasks[0], _overlapping(tasks[0]), 1)])
    import_ok(export, root)
    assert (cv2.imread(str(label_file(root, tasks[0])), cv2.IMREAD_UNCHANGED) == name2label["sky"].id).all()
    assert "1 task had overlapping layers of different classes (8192 pixels in all)" in capsys.readouterr().out


def test_images_outside_the_dataset_or_not_pending_are_refused(pending, tasks, tmp_path, capsys):
    root = pending.dataset_copy(tmp_path / "city")
    results, _ = corrected(tasks[0])
    stranger = finished(tasks[0], results, 4)
    stranger["data"] = {"image": "/data/local-files/?d=leftImg8bit/train/paris/paris_000000_000001_leftImg8bit.png"}
    code, err = run_import(write_export(tmp_path / "a.json", [stranger]), root, capsys)
    assert code == 1 and "task 4: image leftImg8bit/train/paris/paris_000000_000001_leftImg8bit.png is not in" in err
    labelled = sorted((root / "gtFine" / "train").rglob("*_labelIds.png"))[0]  # a labelled image, not selected
    image = labelled.name.replace("_gtFine_labelIds.png", "_leftImg8bit.png")
    other = finished(tasks[0], results, 5)
    other["data"] = {"image": f"/data/upload/1/0a1b2c3d-{image}"}  # as Label Studio names uploaded files
    code, err = run_import(write_export(tmp_path / "b.json", [other]), root, capsys, "--state", str(pending.state))
    assert code == 1 and f"task 5: image {image} is not pending annotation in {pending.state}" in err


def test_an_image_annotated_in_two_tasks_is_refused(pending, tasks, tmp_path, capsys):
    root = pending.dataset_copy(tmp_path / "city")
    results, _ = corrected(tasks[0])
    export = write_export(tmp_path / "export.json", [finished(tasks[0], results, 1), finished(tasks[0], results, 2)])
    code, err = run_import(export, root, capsys)
    assert code == 1 and "task 2: image" in err and "appears twice in the export" in err
    assert not label_file(root, tasks[0]).exists()


def test_a_data_root_that_is_not_the_runs_dataset_is_refused(pending, tasks, tmp_path, capsys):
    root = pending.dataset_copy(tmp_path / "city")
    extra = sorted((root / "leftImg8bit" / "train").rglob("*.png"))[0]
    (extra.parent / extra.name.replace("_000019_", "_999999_")).write_bytes(extra.read_bytes())
    results, _ = corrected(tasks[0])
    export = write_export(tmp_path / "export.json", [finished(tasks[0], results, 1)])
    code, err = run_import(export, root, capsys, "--state", str(pending.state))
    assert code == 1 and "the run has 20 images in its pool split" in err and "has 21" in err
    assert not label_file(root, tasks[0]).exists()


def test_an_existing_label_is_kept_unless_overwrite_is_given(pending, tasks, tmp_path, capsys):
    root = pending.dataset_copy(tmp_path / "city")
    target = label_file(root, tasks[0])
    cv2.imwrite(str(target), np.full((64, 128), name2label["road"].id, np.uint8))
    results, truth = corrected(tasks[0])
    export = write_export(tmp_path / "export.json", [finished(tasks[0], results, 1)])
    code, err = run_import(export, root, capsys)
    assert code == 1 and f"already has a label, {target}; pass --overwrite" in err
    assert (cv2.imread(str(target), cv2.IMREAD_UNCHANGED) == name2label["road"].id).all()
    import_ok(export, root, "--overwrite")
    assert np.array_equal(cv2.imread(str(target), cv2.IMREAD_UNCHANGED), truth)


def test_an_all_void_annotation_is_written_with_a_warning(pending, tasks, tmp_path, capsys):
    root = pending.dataset_copy(tmp_path / "city")
    import_ok(write_export(tmp_path / "export.json", [finished(tasks[0], [], 1)]), root)
    err = capsys.readouterr().err
    assert "task 1: image" in err and "has no labelled pixel (all void)" in err
    assert (cv2.imread(str(label_file(root, tasks[0])), cv2.IMREAD_UNCHANGED) == 0).all()


@pytest.mark.parametrize("content, args, expected", [
    ("{broken", [], "is not a Label Studio JSON export"),
    ("[]", [], "holds no tasks"),
    (json.dumps([{"id": 9, "data": {"text": "x"}, "annotations": []}]), [], "task 9 has no image"),
    (json.dumps([{"id": 9}]), [], "task 9 has no 'data'"),
    ("[]", ["--split", "test"], "no images in"),
])
def test_a_bad_export_or_data_root_is_refused_in_one_line(pending, tmp_path, capsys, content, args, expected):
    export = tmp_path / "export.json"
    export.write_text(content)
    code, err = run_import(export, pending.root, capsys, *args)
    assert code == 1 and expected in err and len(err.strip().splitlines()) == 1, err


def test_a_wrong_from_is_refused_by_the_parser(pending, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_tool("import_labels").main(["x.json", "--from", "supervisely", "--data-root", str(pending.root)])
    assert exit_info.value.code == 2 and "invalid choice: 'supervisely'" in capsys.readouterr().err


def test_segal_cvat_archives_read_back_as_the_predicted_label_ids(pending, tmp_path, capsys):
    """The archives as CVAT would hand them back unchanged: the labels equal the predictions, in label ids."""
    root = pending.dataset_copy(tmp_path / "city")
    load_tool("export").main([str(pending.selection), "--to", "cvat", "--out", str(tmp_path / "cvat")])
    entries = json.loads(pending.selection.read_text())["selection"]
    for archive in ("cityscapes_1.0.zip", "segmentation_mask_1.1.zip"):
        import_ok(tmp_path / "cvat" / archive, root, source="cvat")
        for entry in entries:
            predicted = cv2.imread(entry["prediction"], cv2.IMREAD_UNCHANGED)
            image = Path(entry["image"])
            target = (root / "gtFine" / "train" / image.parent.name /
                      image.name.replace("_leftImg8bit.png", "_gtFine_labelIds.png"))
            truth = np.vectorize(lambda t: trainId2label[t].id)(predicted)
            assert np.array_equal(cv2.imread(str(target), cv2.IMREAD_UNCHANGED), truth), archive


def _selected_images(pending):
    return [Path(entry["image"]) for entry in json.loads(pending.selection.read_text())["selection"]]


def test_a_cvat_cityscapes_export_with_its_own_label_order_and_instances(pending, tmp_path, capsys):
    """Built from CVAT's format page: ``gtFine/<subset>/<city>/<frame>_gtFine_instanceIds.png`` holding
    ``class * 1000 + instance``, classes numbered by the lines of ``label_colors.txt`` (task order, spaced names)."""
    root = pending.dataset_copy(tmp_path / "city")
    image = _selected_images(pending)[0]
    labels = [("background", (0, 0, 0)), ("car", (0, 0, 142)), ("traffic light", (250, 170, 30)), ("road", (128, 64, 128))]
    instances = np.full((64, 128), 3, np.uint16)  # road, not an instance class
    instances[10:20, 10:30] = 1000 + 1  # car 1
    instances[30:40, 50:90] = 1000 + 2  # car 2
    instances[0:5, 0:5] = 2  # traffic light
    archive = tmp_path / "task_1-cityscapes.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("label_colors.txt", "".join(f"{r} {g} {b} {name}\n" for name, (r, g, b) in labels))
        z.writestr(f"gtFine/default/{image.parent.name}/{image.stem}_gtFine_instanceIds.png",
                   cv2.imencode(".png", instances)[1].tobytes())
    import_ok(archive, root, source="cvat")
    # a label list other than the one segal exported is read by its names, and the import says so
    assert "label_colors.txt is not the label list segal exported (line 1: ('background', (0, 0, 0)), exported " \
           "('unlabeled', (0, 0, 0)))" in capsys.readouterr().err
    target = label_file(root, {"data": {"segal_image": f"leftImg8bit/train/{image.parent.name}/{image.name}"}})
    written = cv2.imread(str(target), cv2.IMREAD_UNCHANGED)
    expected = np.full((64, 128), name2label["road"].id, np.uint8)
    expected[10:20, 10:30] = expected[30:40, 50:90] = name2label["car"].id
    expected[0:5, 0:5] = name2label["traffic light"].id
    assert np.array_equal(written, expected)


def test_a_cvat_segmentation_mask_export_with_a_palette_png(pending, tmp_path, capsys):
    """Built from CVAT's format page: ``labelmap.txt`` lines ``name:r,g,b::`` and class masks as palette PNGs."""
    root = pending.dataset_copy(tmp_path / "city")
    image = _selected_images(pending)[1]
    labelmap = [("background", (0, 0, 0)), ("sky", (70, 130, 180)), ("person", (220, 20, 60))]
    index = np.zeros((64, 128), np.uint8)
    index[:20] = 1
    index[40:, 60:70] = 2
    png = Image.fromarray(index, mode="P")
    png.putpalette([c for _, rgb in labelmap for c in rgb])
    buffer = tmp_path / "mask.png"
    png.save(buffer)
    archive = tmp_path / "task_1-segmask.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("labelmap.txt", "# label:color_rgb:parts:actions\n" + "".join(
            f"{name}:{r},{g},{b}::\n" for name, (r, g, b) in labelmap))
        z.writestr("ImageSets/Segmentation/default.txt", f"{image.stem}\n")
        z.writestr(f"SegmentationClass/{image.stem}.png", buffer.read_bytes())
    import_ok(archive, root, source="cvat")
    target = label_file(root, {"data": {"segal_image": f"leftImg8bit/train/{image.parent.name}/{image.name}"}})
    ids = np.array([0, name2label["sky"].id, name2label["person"].id], np.uint8)
    assert np.array_equal(cv2.imread(str(target), cv2.IMREAD_UNCHANGED), ids[index])


def cvat_for_images(image, shapes, labels=("road", "car", "sky"), width=128, height=64):
    """``annotations.xml`` as CVAT for images 1.1 writes it: the task's labels, then the image and its shapes."""
    names = "".join(f"<label><name>{name}</name><color>#ffffff</color></label>" for name in labels)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version><meta><task><labels>'
            f'{names}</labels></task></meta><image id="0" name="{image.name}" width="{width}" height="{height}">'
            f'{"".join(shapes)}</image></annotations>')


def test_a_cvat_for_images_export_fills_its_polygons_and_boxes_in_z_order(pending, tmp_path, capsys):
    root = pending.dataset_copy(tmp_path / "city")
    image = _selected_images(pending)[0]
    shapes = ['<box label="sky" xtl="0" ytl="0" xbr="64" ybr="16" z_order="1"/>',  # drawn on top, listed first
              '<polygon label="road" points="0,0;128,0;128,64;0,64" z_order="0"/>',
              '<box label="car" xtl="48" ytl="8" xbr="96" ybr="40" z_order="0"/>']
    archive = tmp_path / "task_1-cvat.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("annotations.xml", cvat_for_images(image, shapes))
    import_ok(archive, root, source="cvat")
    expected = np.full((64, 128), name2label["road"].id, np.uint8)
    expected[8:40, 48:96] = name2label["car"].id
    expected[0:16, 0:64] = name2label["sky"].id
    target = label_file(root, {"data": {"segal_image": f"leftImg8bit/train/{image.parent.name}/{image.name}"}})
    np.testing.assert_array_equal(cv2.imread(str(target), cv2.IMREAD_UNCHANGED), expected)


@pytest.mark.parametrize("xml, expected", [
    (lambda image: cvat_for_images(image, ['<mask label="car" rle="3, 4" left="0" top="0" width="2" height="2"/>']),
     "a <mask>; segal reads polygons and boxes"),
    (lambda image: cvat_for_images(image, ['<polygon label="lamp" points="0,0;9,0;9,9"/>']),
     "label 'lamp', which the export's labels do not list"),
    (lambda image: cvat_for_images(image, ['<polygon label="car" points="0,0;9,x;9,9"/>']), "unreadable corners"),
    (lambda image: '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><annotations/>', "declares a document type"),
    (lambda image: cvat_for_images(image, [], width=100), "is 100x64; its image is 128x64"),
])
def test_a_bad_cvat_for_images_export_is_refused_in_one_line(pending, tmp_path, capsys, xml, expected):
    root = pending.dataset_copy(tmp_path / "city")
    archive = tmp_path / "task_1-cvat.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("annotations.xml", xml(_selected_images(pending)[0]))
    before = snapshot(root)
    code, err = run_import(archive, root, capsys, source="cvat")
    assert code == 1 and expected in err and len(err.strip().splitlines()) == 1, err
    assert snapshot(root) == before


def png_header(width, height):
    """The first chunk of a PNG claiming ``width`` x ``height`` 8-bit grey pixels: what a decompression bomb
    shows before its few compressed bytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("files, expected", [
    ({"labelmap.txt": "background:0,0,0::\nlamp:1,2,3::\n", "SegmentationClass/{stem}.png": "lamp"},
     "unknown class name 'lamp'"),
    ({"labelmap.txt": "background:0,0,0::\n", "SegmentationClass/{stem}.png": "lamp"}, "has colour (1, 2, 3)"),
    ({"SegmentationClass/{stem}.png": "lamp"}, "has no labelmap.txt"),
    ({"readme.txt": "hello"}, "is neither a CVAT Cityscapes 1.0 export"),
    ({"gtFine/default/x/{stem}_gtFine_labelIds.png": "not a png"}, "cannot read image"),
    ({"gtFine/default/x/{stem}_gtFine_labelIds.png": "bomb"}, "segal reads at most 100,000,000 pixels per image"),
])
def test_a_bad_cvat_export_is_refused_in_one_line(pending, tmp_path, capsys, files, expected):
    stem = _selected_images(pending)[0].stem
    lamp = np.zeros((64, 128, 3), np.uint8)
    lamp[:, :] = (3, 2, 1)  # BGR of (1, 2, 3)
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name, content in files.items():
            data = {"lamp": cv2.imencode(".png", lamp)[1].tobytes(), "bomb": png_header(20000, 20000)}.get(content,
                                                                                                           content)
            z.writestr(name.format(stem=stem), data)
    before = snapshot(pending.root)
    code, err = run_import(archive, pending.root, capsys, source="cvat")
    assert code == 1 and expected in err and len(err.strip().splitlines()) == 1, err
    assert snapshot(pending.root) == before


@pytest.mark.slow
def test_region_labels_merge_into_the_partial_label_of_earlier_steps(tmp_path_factory, tmp_path, capsys):
    pending = make_pending_selection(tmp_path_factory.mktemp("import_regions"), budget=2, regions=True)
    root = pending.dataset_copy(tmp_path / "city")
    out = tmp_path / "ls"
    load_tool("export").main([str(pending.selection), "--to", "labelstudio", "--out", str(out)])
    task = json.loads((out / "tasks.json").read_text())[0]
    target = label_file(root, task)
    earlier = np.zeros((64, 128), np.uint8)
    earlier[:, :32] = name2label["sky"].id  # an earlier step's region, already delivered
    cv2.imwrite(str(target), earlier)
    car = np.ones((64, 128), bool)  # the annotator paints the whole image
    export = write_export(tmp_path / "export.json", [finished(task, [brush("car", car)], 1)])
    code, err = run_import(export, root, capsys)
    assert code == 1 and "already has a label" in err, "without the run, nothing says the file is partial"
    import_ok(export, root, "--state", str(pending.state))
    entries = json.loads(pending.selection.read_text())["selection"]
    mask = next(e["mask"] for e in entries if e["image"].endswith(Path(task["data"]["segal_image"]).name))
    inside = cv2.imread(mask, cv2.IMREAD_UNCHANGED) > 0  # the regions this step asked for
    assert 0 < inside.sum() < inside.size
    expected = np.where(inside, name2label["car"].id, earlier)
    np.testing.assert_array_equal(cv2.imread(str(target), cv2.IMREAD_UNCHANGED), expected)
    clipped = int((car & ~inside).sum())
    assert clipped > 0 and f"1 task painted outside the regions to label ({clipped} pixels in all)" in \
        capsys.readouterr().out, "paint outside the regions is left out, counted and reported"


def test_agreement_is_the_macro_jaccard_of_each_pair():
    """Against scikit-learn's macro Jaccard score over the classes either map holds."""
    rng = np.random.default_rng(1)
    first, second = rng.integers(0, 4, (20, 30)), rng.integers(0, 4, (20, 30))
    second[:10] = first[:10]
    for a, b in [(first, second), (first, first), (first, np.zeros_like(first))]:
        classes = sorted((set(np.unique(a)) | set(np.unique(b))) - {0})
        expected = jaccard_score(a.ravel(), b.ravel(), labels=classes, average="macro", zero_division=0)
        assert pair_iou(a, b, unlabelled=0) == pytest.approx(expected)
    assert agreement([first, first, second], 0) == pytest.approx((1 + 2 * pair_iou(first, second, 0)) / 3)


def test_reviewed_imports_take_ground_truth_and_disagreeing_annotators_wait(pending, tasks, tmp_path, capsys):
    root = pending.dataset_copy(tmp_path / "city")
    everything = np.ones((64, 128), bool)
    left = np.zeros((64, 128), bool)
    left[:, :64] = True
    road, split = [brush("road", everything)], [brush("road", everything), brush("car", left)]
    two = finished(tasks[0], road, 1, ground_truth=True)  # the reviewer's, older, and a later one that disagrees
    two["annotations"].append({"id": 300, "result": split, "was_cancelled": False,
                               "updated_at": "2026-12-02T10:00:00Z", "completed_by": 2})
    unreviewed = finished(tasks[1], road, 2)
    export = write_export(tmp_path / "export.json", [two, unreviewed])
    import_ok(export, root, "--state", str(pending.state), "--take", "ground_truth")
    out = capsys.readouterr().out
    assert (cv2.imread(str(label_file(root, tasks[0])), cv2.IMREAD_UNCHANGED) == name2label["road"].id).all()
    assert not label_file(root, tasks[1]).exists() and "1 task without a finished annotation yet" in out
    assert "1 task labelled by several annotators: agreement (mean IoU) from 0.250 to 0.250" in out  # road 1/2, car 0
    label_file(root, tasks[0]).unlink()
    import_ok(export, root, "--state", str(pending.state), "--min-agreement", "0.5")
    out = capsys.readouterr().out
    assert "1 task below --min-agreement left out for review" in out and "task 1 (0.250)" in out
    assert not label_file(root, tasks[0]).exists() and label_file(root, tasks[1]).exists()

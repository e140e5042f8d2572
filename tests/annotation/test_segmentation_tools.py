"""select.py on a folder of unlabelled images, and test.py with prediction PNGs, on synthetic Cityscapes data."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from segal.config import load_config
from segal.data import SyntheticCity
from segal.spec import build_model
from segal.utils.io import atomic_save_torch

REPO = Path(__file__).resolve().parents[2]


def run_tool(tool, *args):
    return subprocess.run([sys.executable, str(REPO / "tools" / tool), *args], capture_output=True, text=True, cwd=REPO)


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    root = tmp_path_factory.mktemp("seg")
    options = ["dataset.data_root=" + str(root / "city"), "dataset.generate=True", "dataset.num_train=6", "dataset.num_val=3",
               "dataset.height=32", "dataset.width=64", "dataset.workers=1", "loop.progress=False", "device=cpu"]
    config = REPO / "configs/synthetic_city/deeplabv3plus-r18_entropy.py"
    cfg = load_config(str(config), {"dataset.data_root": str(root / "city"), "dataset.generate": True, "dataset.num_train": 6,
                                    "dataset.num_val": 3, "dataset.height": 32, "dataset.width": 64, "dataset.workers": 1})
    dataset = SyntheticCity(**{k: v for k, v in cfg.dataset.items() if k != "type"})
    torch.manual_seed(0)
    model = build_model(cfg.model, dataset)
    checkpoint = root / "model.pth"
    atomic_save_torch({"state_dict": model.state_dict(), "meta": {"model": cfg.model.to_dict(), "classes": dataset.classes}},
                      checkpoint)
    return root, config, options, checkpoint


@pytest.mark.slow
@pytest.mark.subprocess
def test_select_from_a_folder_of_unlabelled_images(city, tmp_path):
    root, config, options, checkpoint = city
    folder = tmp_path / "incoming"
    folder.mkdir()
    for i, image in enumerate(sorted((root / "city" / "leftImg8bit" / "train").rglob("*.png"))[:5]):
        cv2.imwrite(str(folder / f"frame_{i}.png"), cv2.imread(str(image)))
    result = run_tool("select.py", str(config), str(checkpoint), "--budget", "2", "--pool", str(folder),
                      "--work-dir", str(tmp_path / "sel"), "--heatmaps", str(tmp_path / "heat"), "--cfg-options", *options)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "sel" / "selection.json"
    assert str(out) in result.stdout, "the tool says where it wrote"
    selection = json.loads(out.read_text())["selection"]
    assert [e["rank"] for e in selection] == [1, 2]
    assert all(Path(e["image"]).parent == folder for e in selection)
    scores = [e["score"] for e in selection]
    assert scores == sorted(scores, reverse=True)
    heatmaps = sorted(p.name for p in (tmp_path / "heat").glob("*.png"))
    assert heatmaps == sorted(Path(e["image"]).name for e in selection), "heat maps are named after the images"
    heatmap = cv2.imread(str(tmp_path / "heat" / heatmaps[0]))
    assert heatmap.shape[1] >= 1000 and heatmap.shape[0] >= 250, "readable size, not the 32x64 input"
    assert out.with_suffix(".csv").read_text().splitlines()[0] == "rank,id,image,score,predicted"
    assert json.loads(out.read_text())["scorer"] == {"type": "Entropy", "precision": "fast"}


@pytest.mark.slow
@pytest.mark.subprocess
def test_folder_pools_refuse_scorers_that_need_the_holdout(city, tmp_path):
    root, _, options, checkpoint = city
    config = REPO / "configs/synthetic_city/deeplabv3plus-r18_holdout-loss-change.py"
    result = run_tool("select.py", str(config), str(checkpoint), "--budget", "1",
                      "--pool", str(root / "city" / "leftImg8bit" / "val"), "--cfg-options", *options)
    assert result.returncode == 1 and "--state" in result.stderr


@pytest.mark.slow
@pytest.mark.subprocess
def test_checkpoint_with_other_classes_is_refused(city, tmp_path):
    root, config, options, checkpoint = city
    bad = tmp_path / "bad.pth"
    state = torch.load(checkpoint, weights_only=True)
    state["meta"]["classes"] = ["road", "sky"]
    torch.save(state, bad)
    result = run_tool("select.py", str(config), str(bad), "--budget", "1", "--pool", str(root / "city"),
                      "--cfg-options", *options)
    assert result.returncode == 1 and "was trained for 2 classes, the config's dataset has 19" in result.stderr
    assert "class 1 is 'sky' in the checkpoint and 'sidewalk' in the config" in result.stderr


@pytest.mark.slow
@pytest.mark.subprocess
def test_test_tool_report_and_prediction_pngs(city, tmp_path):
    root, config, options, checkpoint = city
    result = run_tool("test.py", str(config), str(checkpoint), "--work-dir", str(tmp_path / "eval"),
                      "--show-dir", str(tmp_path / "show"), "--cfg-options", *options)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(metrics) == {"mIoU", "per_class_iou", "pixel_accuracy"} and len(metrics["per_class_iou"]) == 19
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "| road |" in report and "| bicycle |" in report
    shows = sorted((tmp_path / "show").glob("*.png"))
    val_images = sorted((root / "city" / "leftImg8bit" / "val").rglob("*.png"))
    expected = [p.name.replace("_leftImg8bit", "") for p in val_images]
    assert [p.name for p in shows] == expected, "one figure per test image, named after it"
    figure = cv2.cvtColor(cv2.imread(str(shows[0])), cv2.COLOR_BGR2RGB)
    assert figure.shape[1] >= 1000
    road = np.array([128, 64, 128])  # Cityscapes' road colour appears in the panels and the legend
    assert (np.abs(figure.reshape(-1, 3).astype(int) - road).sum(1) <= 3).sum() > 100


def mixed_size_folder(root, tmp_path):
    """``tmp_path/incoming`` with a 32x64 and a 64x128 image."""
    folder = tmp_path / "incoming"
    folder.mkdir()
    images = sorted((root / "city" / "leftImg8bit" / "train").rglob("*.png"))
    cv2.imwrite(str(folder / "small.png"), cv2.imread(str(images[0])))
    cv2.imwrite(str(folder / "large.png"), cv2.resize(cv2.imread(str(images[1])), (128, 64)))
    return folder


@pytest.mark.slow
@pytest.mark.subprocess
def test_mixed_sizes_are_refused_before_anything_is_written(city, tmp_path):
    root, config, options, checkpoint = city
    folder = mixed_size_folder(root, tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_tool("select.py", str(config), str(checkpoint), "--budget", "1", "--pool", str(folder),
                      "--work-dir", str(tmp_path / "sel"), "--heatmaps", str(tmp_path / "heat"), "--cfg-options", *options)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "32x64" in result.stderr and "64x128" in result.stderr
    assert "small.png" in result.stderr and "large.png" in result.stderr and "test_pipeline" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "no heat map or selection folder was created"


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_resizing_test_pipeline_accepts_mixed_sizes(city, tmp_path):
    root, config, options, checkpoint = city
    folder = mixed_size_folder(root, tmp_path)
    resizing = tmp_path / "resizing.py"
    resizing.write_text(f"_base_ = ['{config}']\ndataset = dict(test_pipeline=[dict(type='Resize', height=32, width=64)])\n")
    result = run_tool("select.py", str(resizing), str(checkpoint), "--budget", "2", "--pool", str(folder),
                      "--cfg-options", *options)
    assert result.returncode == 0, result.stderr
    default_out = root / "selection_model" / "selection.json"  # beside the checkpoint, named after it
    assert f"wrote {default_out}" in result.stdout
    assert len(json.loads(default_out.read_text())["selection"]) == 2


@pytest.mark.slow
@pytest.mark.subprocess
def test_selection_records_the_settings_the_scorer_used(city, tmp_path):
    root, _, options, checkpoint = city
    config = REPO / "configs/synthetic_city/deeplabv3plus-r18_holdout-loss-change.py"  # its scorer has lr, steps, ...
    result = run_tool("select.py", str(config), str(checkpoint), "--budget", "1", "--work-dir", str(tmp_path),
                      "--pool", str(root / "city" / "leftImg8bit" / "val"), "--cfg-options", *options,
                      "scorer.type=MCDropout")
    assert result.returncode == 0, result.stderr
    assert "ignored" in result.stderr
    recorded = json.loads((tmp_path / "selection.json").read_text())["scorer"]
    assert recorded == {"type": "MCDropout", "num_passes": 20, "passes_per_batch": None, "precision": "fast"}


def header_only_png(path, width: int, height: int):
    """A PNG whose header claims ``width x height`` pixels: a few bytes on disk, gigabytes once decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_decompression_bomb_in_the_pool_is_one_line(city, tmp_path):
    root, config, options, checkpoint = city
    folder = tmp_path / "incoming"
    folder.mkdir()
    shutil.copy(next((root / "city" / "leftImg8bit" / "train").rglob("*.png")), folder / "fine.png")
    header_only_png(folder / "bomb.png", 30000, 30000)
    result = run_tool("select.py", str(config), str(checkpoint), "--budget", "1", "--pool", str(folder),
                      "--work-dir", str(tmp_path / "sel"), "--cfg-options", *options)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 1 and len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(folder / "bomb.png") in errors[0] and "too large" in errors[0]
    assert not (tmp_path / "sel").exists()


def _city_copy(root, tmp_path, options):
    copy = tmp_path / "city"
    shutil.copytree(root / "city", copy)
    return copy, [o if not o.startswith("dataset.data_root=") else f"dataset.data_root={copy}" for o in options]


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_huge_test_image_is_refused_before_it_is_decoded(city, tmp_path):
    """20000 x 20000 pixels: 1.2 GB once decoded; the header alone is read and the file named."""
    root, config, options, checkpoint = city
    copy, options = _city_copy(root, tmp_path, options)
    image = sorted((copy / "leftImg8bit" / "val").rglob("*.png"))[1]
    header_only_png(image, 20000, 20000)
    result = run_tool("test.py", str(config), str(checkpoint), "--work-dir", str(tmp_path / "eval"),
                      "--cfg-options", *options)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 1 and len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(image) in errors[0] and "too large" in errors[0]


@pytest.mark.slow
@pytest.mark.subprocess
def test_an_image_of_another_size_is_named(city, tmp_path):
    """Used to end in torch's "stack expects each tensor to be equal size" with no file named."""
    root, config, options, checkpoint = city
    copy, options = _city_copy(root, tmp_path, options)
    image = sorted((copy / "leftImg8bit" / "val").rglob("*.png"))[1]
    stem = image.name.replace("_leftImg8bit.png", "")
    cv2.imwrite(str(image), cv2.resize(cv2.imread(str(image)), (128, 64)))
    for label in (copy / "gtFine" / "val").rglob(f"{stem}_gtFine_*.png"):
        cv2.imwrite(str(label), cv2.resize(cv2.imread(str(label), cv2.IMREAD_UNCHANGED), (128, 64),
                                           interpolation=cv2.INTER_NEAREST))
    result = run_tool("test.py", str(config), str(checkpoint), "--work-dir", str(tmp_path / "eval"),
                      "--cfg-options", *options, "train.eval_batch_size=4")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 1 and len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "different sizes" in errors[0] and str(image) in errors[0] and "3x64x128" in errors[0]
    assert "stack expects" not in result.stderr

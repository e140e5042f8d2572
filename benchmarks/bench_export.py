"""Exporting a selection to Label Studio and CVAT at Cityscapes size: seconds for 100 images of 1024x2048.

    python benchmarks/bench_export.py [--images 100] [--distinct 10] [--out FILE]

Generates ``--distinct`` synthetic-city frames of 1024x2048 and lays out
``--images`` selected images (each frame under several names) with a
prediction per image: the frame's train ids with 0.5% of pixels set to a
random class, which gives more runs than a trained model's prediction does.
Then times ``tools/export.py``'s work for each tool, whole images and
region mode (40 cells of 32x64 per image), side by side in one run, against
the target of 60 s for 100 images, and the brush encoder alone on the largest
class mask of one prediction. Writes benchmarks/results/export_cpu.json.
"""
import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from segal.annotation.brush_rle import encode_mask
from segal.annotation.export import export_selection
from segal.data.cityscapes import read_train_ids
from segal.data.synthetic_city import generate

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_SECONDS = 60.0


def lay_out_selection(root: Path, folder: Path, images: int, rng) -> tuple:
    """Writes ``images`` images with predictions and region masks; returns the two selection JSONs."""
    frames = sorted((root / "leftImg8bit" / "train").rglob("*_leftImg8bit.png"))
    entries, region_entries = [], []
    for rank in range(1, images + 1):
        frame = frames[(rank - 1) % len(frames)]
        image = folder / "leftImg8bit" / "train" / "bench" / f"bench_{rank:06d}_000019_leftImg8bit.png"
        image.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(frame, image)
        label = frame.parents[3] / "gtFine" / "train" / frame.parent.name / frame.name.replace(
            "_leftImg8bit.png", "_gtFine_labelIds.png")
        predicted = read_train_ids(label)
        predicted[predicted == 255] = 0
        noise = rng.random(predicted.shape) < 0.005
        predicted[noise] = rng.integers(0, 19, int(noise.sum()))
        prediction = folder / "predictions" / f"bench_{rank:06d}.png"
        prediction.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(prediction), predicted)
        cells = np.zeros(32 * 32, np.uint8)
        cells[rng.choice(cells.size, 40, replace=False)] = 255
        mask = folder / "masks" / f"bench_{rank:06d}_mask.png"
        mask.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(mask), cv2.resize(cells.reshape(32, 32), (2048, 1024), interpolation=cv2.INTER_NEAREST))
        entry = {"rank": rank, "id": rank, "image": str(image), "score": float(1 / rank), "prediction": str(prediction)}
        entries.append(entry)
        region_entries.append({**entry, "region": 0, "area": 40 * 32 * 64, "mask": str(mask)})
    meta = {"checkpoint": str(folder / "run" / "checkpoints" / "step_0.pth"), "next_step": 1}
    whole, regions = folder / "selection_step1.json", folder / "selection_regions_step1.json"
    whole.write_text(json.dumps({**meta, "selection": entries}))
    regions.write_text(json.dumps({**meta, "mode": "regions", "selection": region_entries}))
    return whole, regions


def time_encoder(prediction: str, repeats: int = 20) -> dict:
    """Seconds to encode the largest class mask of ``prediction`` as brush RLE (best of ``repeats``)."""
    predicted = cv2.imread(prediction, cv2.IMREAD_UNCHANGED)
    mask = (predicted == np.bincount(predicted.ravel()).argmax()).astype(np.uint8) * 255
    best = min(_timed(encode_mask, mask) for _ in range(repeats))
    return {"seconds": best, "runs": int((np.diff(mask.ravel().astype(np.int16)) != 0).sum()) + 1}


def _timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--distinct", type=int, default=10)
    parser.add_argument("--out", default=str(RESULTS / "export_cpu.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = generate(Path(tmp) / "city", num_train=args.distinct, num_val=1, height=1024, width=2048, workers=2,
                        progress=False)
        whole, regions = lay_out_selection(root, Path(tmp) / "selected", args.images, np.random.default_rng(0))
        for mode, selection in (("images", whole), ("regions", regions)):
            for tool in ("labelstudio", "cvat"):
                out = Path(tmp) / f"{tool}_{mode}"
                start = time.perf_counter()
                written = export_selection(selection, tool, out, progress=False)
                seconds = time.perf_counter() - start
                size = sum(path.stat().st_size for path in written)
                rows.append({"tool": tool, "mode": mode, "images": args.images, "seconds": seconds,
                             "seconds_per_image": seconds / args.images, "mib_written": size / 2 ** 20,
                             "fraction_of_target": seconds / TARGET_SECONDS * 100 / args.images})
                print(f"{tool:<12} {mode:<8} {args.images} images of 1024x2048: {seconds:6.1f} s "
                      f"({seconds / args.images:.2f} s per image, {size / 2 ** 20:.0f} MiB written); "
                      f"{rows[-1]['fraction_of_target']:.2f} of the {TARGET_SECONDS:.0f} s target for 100 images")
        encoder = time_encoder(json.loads(whole.read_text())["selection"][0]["prediction"])
    print(f"brush RLE of the largest class mask of a 1024x2048 prediction ({encoder['runs']} runs): "
          f"{encoder['seconds'] * 1000:.1f} ms")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"target_seconds_per_100_images": TARGET_SECONDS, "rows": rows,
                                          "brush_encoder": encoder}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Reading the same Cityscapes-layout images through a SegmentationFolder config and through the Cityscapes preset.

    python benchmarks/bench_dataset_reading.py [--images 16] [--height 512] [--width 1024] [--rounds 5]

Generates ``--images`` synthetic-city frames (official label ids) in a temporary folder and builds two datasets on
them: the ``Cityscapes`` preset, and a ``SegmentationFolder`` whose config spells the same layout out
(``leftImg8bit``/``gtFine`` folders, suffixes, a ``label_map`` from label ids to train ids). Each round reads every
sample (image, label, decoding) through each, alternately, after checking the two give the same arrays. Prints
seconds per image for each and the ratio generic / preset (target: at most 1.1); writes
benchmarks/results/dataset_reading_cpu.json.
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from segal.data import Cityscapes, SegmentationFolder
from segal.data.cityscapes import LABEL_ID_TO_TRAIN_ID, TRAIN_CLASSES, TRAIN_PALETTE
from segal.data.synthetic_city import generate
from segal.utils.io import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"


def generic_config(root: Path) -> dict:
    """The Cityscapes layout as a user would write it for SegmentationFolder."""
    label_map = {raw: int(LABEL_ID_TO_TRAIN_ID[raw]) for raw in range(34) if LABEL_ID_TO_TRAIN_ID[raw] != 255}
    return dict(data_root=str(root), classes=list(TRAIN_CLASSES), palette=[list(c) for c in TRAIN_PALETTE],
                pool=dict(img_dir="leftImg8bit/train", ann_dir="gtFine/train"),
                test=dict(img_dir="leftImg8bit/val", ann_dir="gtFine/val"),
                img_suffix="_leftImg8bit.png", seg_map_suffix="_gtFine_labelIds.png", label_map=label_map)


def read_all(dataset) -> float:
    start = time.perf_counter()
    for idx in range(len(dataset)):
        dataset[idx]
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS / "dataset_reading_cpu.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = generate(Path(tmp) / "city", num_train=args.images, num_val=2, height=args.height, width=args.width,
                        workers=2, progress=False)
        preset, generic = Cityscapes(str(root)), SegmentationFolder(**generic_config(root))
        assert preset.images == generic.images
        for idx in range(len(preset)):
            a, b = preset.read(idx), generic.read(idx)
            assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]), f"id {idx} differs"
        times = {"preset": [], "generic": []}
        for _ in range(args.rounds):
            times["preset"].append(read_all(preset))
            times["generic"].append(read_all(generic))
    per_image = {name: float(np.median(t)) / len(preset) for name, t in times.items()}
    ratio = per_image["generic"] / per_image["preset"]
    print(f"{len(preset)} images of {args.width}x{args.height}, median of {args.rounds} rounds: Cityscapes preset "
          f"{per_image['preset'] * 1e3:.1f} ms/image, SegmentationFolder config {per_image['generic'] * 1e3:.1f} "
          f"ms/image; ratio generic / preset {ratio:.3f} (target <= 1.1)")
    atomic_write_text(Path(args.out), json.dumps({"images": len(preset), "height": args.height, "width": args.width,
                                                  "rounds": args.rounds, "seconds_per_image": per_image,
                                                  "ratio": ratio}, indent=2))


if __name__ == "__main__":
    main()

"""Training cost of a region step against an image step, per labelled pixel, measured side by side in one run.

    python benchmarks/bench_region_step.py [--regions-per-image 2] [--labelled-images 8] [--epochs 2]
                                           [--repeats 2] [--data-root DIR] [--quick]
                                           [--out benchmarks/results/region_step.json]

On the synthetic city (64x128, SLIC regions of about 512 pixels), the training sets hold the same
number of labelled pixels: ``--labelled-images`` whole images; the same pixels as regions spread over
many images, ``--regions-per-image`` each, trained whole (``loop.region_mosaic=None``, the default);
those images drawn by labelled pixels (``loop.region_sampling='pixels'``); and those regions as mosaics
of 2x2 and 3x3 tiles (``loop.region_mosaic=2`` and ``3``), the 2x2 ones also drawn by pixels. Each trains
``--epochs`` epochs of DeepLabV3+ R18 from the same weights, in alternating order, ``--repeats`` times;
the report gives seconds per labelled pixel and the ratio to the image set (the median over repeats).
"""
import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from segal.config import load_config
from segal.data.loading import LabelledPixelShuffle
from segal.data.pool import ActivePool, Split
from segal.data.region_mosaics import region_training_set
from segal.data.region_pool import RegionLabels
from segal.engine.train import train_stage
from segal.spec import ExperimentSpec

REPO = Path(__file__).resolve().parents[1]
CONFIG = "configs/synthetic_city/deeplabv3plus-r18_holdout-loss-change_regions.py"
#: The region training sets: (row, loop.region_mosaic, loop.region_sampling).
VARIANTS = (("regions, whole images", None, None), ("regions, drawn by pixels", None, "pixels"),
            ("regions, 2x2 mosaics", 2, None), ("regions, 2x2 mosaics drawn", 2, "pixels"),
            ("regions, 3x3 mosaics", 3, None))


def region_labels(dataset, images: np.ndarray, per_image: int, pixels: int, rng) -> RegionLabels:
    """``per_image`` random regions of each of ``images`` in turn, until ``pixels`` are labelled."""
    pool = ActivePool(np.where(dataset.is_test, Split.TEST, Split.POOL).astype(np.int8))
    labels, spent = RegionLabels(pool), 0
    for image in images.tolist():
        areas = np.bincount(dataset.region_map(image).ravel())
        chosen = np.sort(rng.choice(len(areas), size=min(per_image, len(areas)), replace=False))
        labels.label(image, chosen, 1, num_regions=len(areas))
        spent += int(areas[chosen].sum())
        if spent >= pixels:
            return labels
    raise SystemExit(f"the pool's images hold fewer than {pixels} pixels in {per_image} regions each; "
                     f"raise --regions-per-image or lower --labelled-images")


def samples_per_epoch(ids, shares) -> int:
    """Samples an epoch trains: every id, or as many as :class:`LabelledPixelShuffle` draws."""
    return len(ids) if shares is None else LabelledPixelShuffle(shares, seed=0).drawn()


def timed_stage(spec, model_state, dataset, ids, holdout, epochs: int, shares) -> float:
    model = spec.build_model().to(spec.device)
    model.load_state_dict(model_state)
    settings = replace(spec.train, max_epochs=epochs, patience=epochs, min_epochs=epochs, checkpoint_interval=0)
    started = time.perf_counter()
    train_stage(model, dataset, ids, holdout, settings, spec.device, seed=0, progress=False, labelled_shares=shares)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labelled-images", type=int, default=8)
    parser.add_argument("--regions-per-image", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data-root", default=str(REPO / "work_dirs/bench_region_step/synthetic_city"))
    parser.add_argument("--quick", action="store_true", help="two images' worth of pixels, one epoch: a smoke test")
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/region_step.json"))
    args = parser.parse_args()
    if args.quick:
        args.labelled_images, args.epochs, args.repeats = 2, 1, 1
    spec = ExperimentSpec(load_config(str(REPO / CONFIG), {
        "dataset.data_root": args.data_root, "dataset.generate": True, "dataset.num_train": 120, "device": "cpu",
        "loop.progress": False}))
    dataset, rng = spec.dataset, np.random.default_rng(0)
    train_ids = np.flatnonzero(~dataset.is_test)
    whole, holdout, spread = train_ids[:args.labelled_images], train_ids[-1:], train_ids[args.labelled_images:-1]
    pixels = int(sum(np.prod(dataset.read(int(i))[1].shape) for i in whole))
    labels = region_labels(dataset, spread, args.regions_per_image, pixels, rng)
    region_pixels = sum(int(np.isin(dataset.region_map(int(i)), labels.labelled(int(i))).sum()) for i in labels.images())
    sets = {"images": (dataset, whole, pixels, None)}
    for name, tiles, sampling in VARIANTS:
        view, ids, shares = region_training_set(dataset, labels, "dominant", labels.images(), tiles, sampling)
        sets[name] = (view, ids, region_pixels, shares)
    torch.manual_seed(0)
    state = spec.build_model().state_dict()
    seconds = {name: [] for name in sets}
    for repeat in range(args.repeats):
        for name in (list(sets) if repeat % 2 == 0 else list(sets)[::-1]):
            view, ids, _, shares = sets[name]
            seconds[name].append(timed_stage(spec, state, view, ids, holdout, args.epochs, shares))
    image_rate = np.median(seconds["images"]) / pixels
    rows = {name: {"samples_per_epoch": samples_per_epoch(ids, shares), "labelled_pixels": count,
                   "seconds": float(np.median(seconds[name])),
                   "seconds_per_labelled_pixel": float(np.median(seconds[name]) / count),
                   "ratio_to_images": float(np.median(seconds[name]) / count / image_rate)}
            for name, (_, ids, count, shares) in sets.items()}
    print(f"training {args.epochs} epochs, {pixels:,} labelled pixels as {args.labelled_images} whole images or "
          f"as {labels.count()} regions of {len(labels.images())} images ({args.regions_per_image} each), "
          f"median of {args.repeats}:")
    for name, row in rows.items():
        print(f"  {name:<28}{row['samples_per_epoch']:>4} samples/epoch {row['seconds']:7.2f}s  "
              f"per labelled pixel x{row['ratio_to_images']:.2f} the image step's")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows, "seconds": seconds}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

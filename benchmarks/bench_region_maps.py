"""Region maps at Cityscapes size: SLIC compute time and cache size per image, with 1 and 2 worker processes.

    python benchmarks/bench_region_maps.py [--images 8] [--n-segments 2000] [--out FILE]

Generates ``--images`` synthetic-city frames of 1024x2048 in a temporary
folder, then caches their SLIC maps (``compactness=10``) as
``data_prep/regions.py`` does, once with each worker count, into fresh cache
folders. Prints seconds per image, KiB per cached map and the superpixels per
image; writes benchmarks/results/region_maps_cpu.json.
"""
import argparse
import json
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from segal.data.regions import RegionSpec, cache_region_map
from segal.data.synthetic_city import generate

RESULTS = Path(__file__).resolve().parent / "results"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--n-segments", type=int, default=2000)
    parser.add_argument("--out", default=str(RESULTS / "region_maps_cpu.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = generate(Path(tmp) / "city", num_train=args.images, num_val=1, height=1024, width=2048, workers=2,
                        progress=False)
        images = sorted(str(p) for p in (root / "leftImg8bit" / "train").rglob("*.png"))
        for workers in (1, 2):
            spec = RegionSpec("SLIC", n_segments=args.n_segments, compactness=10,
                              cache_dir=str(Path(tmp) / f"cache{workers}"))
            start = time.perf_counter()
            with ProcessPoolExecutor(workers) as pool:
                sizes = list(pool.map(cache_region_map, [spec] * len(images), [str(root)] * len(images), images))
            seconds = time.perf_counter() - start
            counts = [int(np.load(p)["regions"].max()) + 1 for p in sorted(Path(spec.cache_dir).rglob("*.npz"))]
            rows.append({"workers": workers, "seconds_per_image": seconds / len(images),
                         "kib_per_image": float(np.mean(sizes)) / 1024, "regions_per_image": float(np.mean(counts))})
            print(f"SLIC n_segments={args.n_segments} at 1024x2048, {workers} worker(s): "
                  f"{rows[-1]['seconds_per_image']:.2f} s per image, {rows[-1]['kib_per_image']:.0f} KiB per map, "
                  f"{rows[-1]['regions_per_image']:.0f} superpixels per image ({len(images)} images)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"images": args.images, "n_segments": args.n_segments, "rows": rows},
                                         indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

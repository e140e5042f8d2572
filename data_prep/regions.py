"""Compute and cache the region maps of a config's pool images ahead of a run.

    python data_prep/regions.py CONFIG [--workers N] [--cfg-options KEY=VALUE ...]

The config's ``dataset.regions`` says how images are cut (SLIC superpixels or
grid cells); the maps go to ``<data_root>/regions/<key>/`` (or
``dataset.regions.cache_dir``), where ``key`` digests the settings. Maps already
cached and intact are kept. A run computes missing maps itself at first use;
this script does it ahead of time, in parallel, with a progress bar.
"""
import time
from concurrent.futures import ProcessPoolExecutor

from segal.cli import base_parser, errors_as_lines, setup_logging


def main(argv=None) -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1, help="processes computing maps at once (default 1)")
    args = parser.parse_args(argv)
    setup_logging()
    with errors_as_lines(args.debug):
        from segal.config import load_config
        from segal.data.regions import cache_region_map
        from segal.errors import InvalidValue
        from segal.spec import build_dataset
        from segal.utils.progress import Progress

        cfg = load_config(args.config, args.cfg_options)
        dataset = build_dataset(cfg)
        if getattr(dataset, "regions", None) is None:
            raise InvalidValue(f"{args.config} has no dataset.regions; add e.g. "
                               f"dict(type='SLIC', n_segments=2000, compactness=10)")
        if args.workers < 1:
            raise InvalidValue(f"--workers must be >= 1, got {args.workers}")
        images = [str(dataset.image_path(i)) for i in range(len(dataset)) if not dataset.is_test[i]]
        spec, root = dataset.regions.spec, str(dataset.data_root)
        started, total_bytes = time.perf_counter(), 0
        with Progress(len(images), "region maps", unit="img") as bar, ProcessPoolExecutor(args.workers) as pool:
            for size in pool.map(cache_region_map, [spec] * len(images), [root] * len(images), images, chunksize=4):
                total_bytes += size
                bar.update()
        seconds = time.perf_counter() - started
        print(f"{len(images)} region maps in {dataset.regions.folder}: {total_bytes / 2 ** 20:.1f} MiB "
              f"({total_bytes / max(len(images), 1) / 2 ** 10:.0f} KiB per image), {seconds:.1f} s "
              f"({seconds / max(len(images), 1):.2f} s per image with {args.workers} workers)")


if __name__ == "__main__":
    main()

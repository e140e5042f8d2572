"""Generate the synthetic street-scene dataset in the Cityscapes layout.

    python data_prep/synthetic_city.py data/synthetic_city [--num-train 200] [--num-val 50]
        [--height 64] [--width 128] [--seed 0] [--workers 2]

The synthetic_city configs generate it on first use with their own options;
this script is for other sizes or for generating ahead of time.
"""
import argparse

from segal.data.synthetic_city import generate


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_root")
    parser.add_argument("--num-train", type=int, default=200)
    parser.add_argument("--num-val", type=int, default=50)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    root = generate(args.data_root, args.num_train, args.num_val, args.height, args.width, args.seed, args.workers)
    print(f"wrote {args.num_train + args.num_val} images to {root}")


if __name__ == "__main__":
    main()

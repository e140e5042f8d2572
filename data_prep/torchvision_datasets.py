"""Fetch MNIST, KMNIST, SVHN or CIFAR10 into the folder layout segal's configs read.

Needs internet access; segal itself never downloads at run time.

    python data_prep/torchvision_datasets.py mnist --data-root data/mnist
"""
import argparse

from segal.registry import DATASETS, build

NAMES = {"mnist": "MNIST", "kmnist": "KMNIST", "svhn": "SVHN", "cifar10": "CIFAR10"}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=sorted(NAMES))
    parser.add_argument("--data-root", help="target folder (default: data/<dataset>, as in the configs)")
    args = parser.parse_args(argv)
    root = args.data_root or f"data/{args.dataset}"
    dataset = build(DATASETS, dict(type=NAMES[args.dataset], data_root=root, download=True), "dataset")
    print(f"{NAMES[args.dataset]}: {len(dataset)} images ({int(dataset.is_test.sum())} test) in {root}")


if __name__ == "__main__":
    main()

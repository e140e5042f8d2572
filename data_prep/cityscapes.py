"""Prepare a Cityscapes download for segal.

    python data_prep/cityscapes.py data/cityscapes [--splits train val] [--workers 4] [--split-lists DIR] [--overwrite]

Writes *_gtFine_labelTrainIds.png (the 19 train ids, 255 elsewhere) beside
every *_gtFine_labelIds.png, and optionally DIR/<split>.txt listing image and
label paths in segal's global id order.
"""
import argparse

from segal.data.cityscapes_prep import convert_to_train_ids, write_split_lists


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_root", help="folder holding leftImg8bit/ and gtFine/")
    parser.add_argument("--splits", nargs="+", default=["train", "val"])
    parser.add_argument("--workers", type=int, default=4, help="parallel processes")
    parser.add_argument("--split-lists", metavar="DIR", help="also write DIR/<split>.txt")
    parser.add_argument("--overwrite", action="store_true", help="rewrite existing labelTrainIds files")
    args = parser.parse_args(argv)
    written = convert_to_train_ids(args.data_root, args.splits, args.workers, args.overwrite)
    print(f"wrote {len(written)} labelTrainIds files")
    if args.split_lists:
        for path in write_split_lists(args.data_root, args.split_lists, args.splits):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()

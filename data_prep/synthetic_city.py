"""Generate the synthetic street-scene dataset in the Cityscapes layout; optionally hold most pool labels back.

    python data_prep/synthetic_city.py data/synthetic_city [--num-train 200] [--num-val 50]
        [--height 64] [--width 128] [--seed 0] [--workers 2] [--labelled N]
    python data_prep/synthetic_city.py DATA_ROOT --deliver WORK_DIR/selection_step1.json

The synthetic_city configs generate it on first use with their own options;
this script is for other sizes, for generating ahead of time, and for trying
the annotation workflow: ``--labelled N`` keeps the labels of N pool images and
moves the others to DATA_ROOT/labels_to_deliver/, and ``--deliver`` plays the
annotators, moving back the labels of the images a selection names.
"""
import argparse

from segal.data.label_delivery import deliver_labels, held_back, hold_back_labels
from segal.data.synthetic_city import generate, read_options


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_root")
    parser.add_argument("--num-train", type=int, default=200)
    parser.add_argument("--num-val", type=int, default=50)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--labelled", type=int, metavar="N",
                        help="keep the labels of N pool images; hold the others back for --deliver")
    parser.add_argument("--deliver", metavar="SELECTION_JSON",
                        help="move back the held-back labels of the images in a tools/select.py selection")
    args = parser.parse_args(argv)
    try:
        if args.deliver:
            written = deliver_labels(args.data_root, args.deliver)
            print(f"delivered {len(written)} labels; {len(held_back(args.data_root))} still held back")
            return
        options = dict(num_train=args.num_train, num_val=args.num_val, height=args.height, width=args.width,
                       seed=args.seed)
        if read_options(args.data_root) != options:
            generate(args.data_root, workers=args.workers, **options)
            print(f"wrote {args.num_train + args.num_val} images to {args.data_root}")
        if args.labelled is not None:
            moved = hold_back_labels(args.data_root, args.labelled)
            print(f"{args.labelled} pool images keep their labels; {moved} labels held back in "
                  f"{args.data_root}/labels_to_deliver")
    except (OSError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()

"""A dataset of your own classes to try the whole annotation loop on: street scenes with 7 classes in plain folders.

    python data_prep/category_city.py ROOT [--num-train 48] [--num-val 12] [--labelled 12]
    python data_prep/category_city.py ROOT --answer TASKS_JSON --out EXPORT_JSON

The first form writes the synthetic city's scenes with Cityscapes' 7 categories as classes (flat, construction,
object, nature, sky, human, vehicle) in a ``SegmentationFolder`` layout: ``images/{train,val}/<name>.png`` and
index PNGs ``labels/{train,val}/<name>.png`` (255 = unlabelled). With ``--labelled N`` only the first N pool images
keep their labels; the others wait in ``ROOT/labels_to_deliver/``.

The second form plays the annotators in Label Studio: for the tasks ``tools/select.py --export labelstudio``
wrote, it writes what Label Studio's JSON export would hold after they labelled each image (or, in region mode,
each image's regions to label) with its true classes, as brush layers.
"""
import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from cityscapesscripts.helpers.labels import labels as CITYSCAPES_LABELS

from segal.annotation.brush_rle import decode_mask, encode_mask
from segal.data.cityscapes import read_train_ids
from segal.data.synthetic_city import generate

CLASSES = ["flat", "construction", "object", "nature", "sky", "human", "vehicle"]
HELD_BACK = "labels_to_deliver"


def category_of_train_id() -> np.ndarray:
    """``[256]`` uint8: Cityscapes train id -> index of its category in :data:`CLASSES` (255 elsewhere)."""
    table = np.full(256, 255, np.uint8)
    for label in CITYSCAPES_LABELS:
        if 0 <= label.trainId < 255 and label.category in CLASSES:
            table[label.trainId] = CLASSES.index(label.category)
    return table


def write_dataset(root: Path, num_train: int, num_val: int, labelled: int = None) -> None:
    """Generates the scenes and writes them in the SegmentationFolder layout; holds back labels past ``labelled``."""
    table = category_of_train_id()
    with tempfile.TemporaryDirectory() as tmp:
        city = generate(Path(tmp) / "city", num_train=num_train, num_val=num_val, progress=False)
        for split in ("train", "val"):
            for folder in ("images", "labels"):
                (root / folder / split).mkdir(parents=True, exist_ok=True)
            for index, image in enumerate(sorted((city / "leftImg8bit" / split).rglob("*_leftImg8bit.png"))):
                name = f"scene_{index:04d}.png"
                label = city / "gtFine" / split / image.parent.name / image.name.replace(
                    "_leftImg8bit.png", "_gtFine_labelIds.png")
                shutil.copyfile(image, root / "images" / split / name)
                cv2.imwrite(str(root / "labels" / split / name), table[read_train_ids(label)])
    if labelled is not None:
        held = root / HELD_BACK
        held.mkdir(exist_ok=True)
        for label in sorted((root / "labels" / "train").glob("*.png"))[labelled:]:
            label.rename(held / label.name)


def _brush(name: str, mask: np.ndarray) -> dict:
    height, width = mask.shape
    return {"from_name": "label", "to_name": "image", "type": "brushlabels", "original_width": width,
            "original_height": height, "value": {"format": "rle", "rle": encode_mask(mask.astype(np.uint8) * 255),
                                                 "brushlabels": [name]}}


def answer(root: Path, tasks_json: Path, out: Path) -> int:
    """Writes a Label Studio JSON export answering every task with the true classes; returns the task count."""
    tasks, exported = json.loads(tasks_json.read_text()), []
    for number, task in enumerate(tasks, 1):
        name = Path(task["data"]["segal_image"]).name
        truth_file = root / HELD_BACK / name
        truth = cv2.imread(str(truth_file if truth_file.is_file() else root / "labels" / "train" / name),
                           cv2.IMREAD_UNCHANGED)
        results = task["predictions"][0]["result"]
        regions = any(r["from_name"] != "label" for r in results)
        inside = np.ones(truth.shape, bool)
        if regions:  # the prediction is cut to the regions to label: its layers cover exactly them
            inside = np.zeros(truth.shape, bool)
            for r in results:
                if r["from_name"] == "label":
                    inside |= decode_mask(r["value"]["rle"], r["original_height"], r["original_width"])
        layers = [_brush(CLASSES[c], (truth == c) & inside) for c in np.unique(truth[inside]) if c < len(CLASSES)]
        exported.append({"id": number, "data": task["data"], "predictions": task["predictions"],
                         "annotations": [{"id": 1000 + number, "result": layers, "was_cancelled": False,
                                          "updated_at": "2026-12-07T12:00:00Z"}]})
    out.write_text(json.dumps(exported))
    return len(exported)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_root")
    parser.add_argument("--num-train", type=int, default=48)
    parser.add_argument("--num-val", type=int, default=12)
    parser.add_argument("--labelled", type=int, metavar="N", help="keep the labels of the first N pool images")
    parser.add_argument("--answer", metavar="TASKS_JSON", help="tasks.json of a Label Studio export by segal")
    parser.add_argument("--out", metavar="EXPORT_JSON", help="with --answer: the Label Studio export to write")
    args = parser.parse_args(argv)
    root = Path(args.data_root)
    try:
        if args.answer:
            if not args.out:
                raise ValueError("--answer needs --out EXPORT_JSON")
            print(f"answered {answer(root, Path(args.answer), Path(args.out))} tasks in {args.out}")
            return
        if (root / "images").exists():
            raise ValueError(f"{root} already holds a dataset; remove it or choose another folder")
        write_dataset(root, args.num_train, args.num_val, args.labelled)
        print(f"wrote {args.num_train + args.num_val} scenes with {len(CLASSES)} classes to {root}"
              + (f"; {args.labelled} pool images keep their labels" if args.labelled is not None else ""))
    except (OSError, ValueError, KeyError) as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()

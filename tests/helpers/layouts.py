"""Small segmentation datasets in public layouts, written as the datasets ship them, with the class map each
label file encodes (so a reader can be checked pixel for pixel).

* Pascal VOC 2012: ``JPEGImages/<id>.jpg``, palette PNGs in ``SegmentationClass/<id>.png`` (value = class,
  255 on object borders), ``ImageSets/Segmentation/{train,val}.txt``;
* ADE20K: ``images/{training,validation}/ADE_*.jpg``, ``annotations/...png`` holding 0 (other) and class + 1;
* CamVid-style: ``{train,val}/<name>.png`` with RGB colour masks in ``{train,val}_labels/<name>_L.png``.
"""
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np
from PIL import Image

SIZE = (48, 64)  # height, width


def _scene(rng: np.random.Generator, num_classes: int) -> Tuple[np.ndarray, np.ndarray]:
    """An RGB image whose colour follows a class map of 3-4 rectangles: ``(image [H, W, 3], classes [H, W])``."""
    height, width = SIZE
    classes = np.full((height, width), rng.integers(num_classes), np.uint8)
    for _ in range(3):
        top, left = rng.integers(0, height - 8), rng.integers(0, width - 8)
        classes[top:top + rng.integers(8, 24), left:left + rng.integers(8, 32)] = rng.integers(num_classes)
    base = rng.integers(0, 255, size=(num_classes, 3))
    image = np.clip(base[classes] + rng.normal(0, 8, (height, width, 3)), 0, 255).astype(np.uint8)
    return image, classes


def _voc_palette() -> List[int]:
    """VOC's colour map for 256 values (the bit-interleaving scheme of its devkit), flattened for PIL."""
    palette = []
    for value in range(256):
        r = g = b = 0
        code = value
        for shift in range(7, -1, -1):
            r |= ((code >> 0) & 1) << shift
            g |= ((code >> 1) & 1) << shift
            b |= ((code >> 2) & 1) << shift
            code >>= 3
        palette += [r, g, b]
    return palette


def write_voc(root: Path, num_train: int = 10, num_val: int = 4, seed: int = 0) -> Dict[str, np.ndarray]:
    """Pascal VOC 2012's layout; returns each image id's class map (255 on borders)."""
    rng = np.random.default_rng(seed)
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    truth, lists = {}, {"train": [], "val": []}
    for index in range(num_train + num_val):
        name = f"2007_{index:06d}"
        image, classes = _scene(rng, 21)
        edges = cv2.morphologyEx(classes, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
        classes = np.where(edges, 255, classes).astype(np.uint8)
        cv2.imwrite(str(root / "JPEGImages" / f"{name}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        label = Image.fromarray(classes, mode="P")
        label.putpalette(_voc_palette())
        label.save(root / "SegmentationClass" / f"{name}.png")
        truth[name] = classes
        lists["train" if index < num_train else "val"].append(name)
    (root / "JPEGImages" / "2012_999999.jpg").write_bytes(
        (root / "JPEGImages" / f"{lists['train'][0]}.jpg").read_bytes())  # an image no list names: not read
    for split, names in lists.items():
        (root / "ImageSets/Segmentation" / f"{split}.txt").write_text("\n".join(names) + "\n")
    return truth


def write_ade20k(root: Path, num_train: int = 10, num_val: int = 4, seed: int = 0) -> Dict[str, np.ndarray]:
    """ADE20K's layout; returns each image stem's class map after reduce_zero_label (255 where raw is 0)."""
    rng = np.random.default_rng(seed)
    truth = {}
    for index in range(num_train + num_val):
        split = "training" if index < num_train else "validation"
        stem = f"ADE_{'train' if split == 'training' else 'val'}_{index:08d}"
        image, classes = _scene(rng, 151)  # raw values 0 (other) .. 150
        for folder in ("images", "annotations"):
            (root / folder / split).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "images" / split / f"{stem}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "annotations" / split / f"{stem}.png"), classes)
        truth[stem] = np.where(classes == 0, 255, classes.astype(np.int16) - 1).astype(np.uint8)
    return truth


def write_camvid(root: Path, palette: List[List[int]], num_train: int = 10, num_val: int = 4,
                 seed: int = 0) -> Dict[str, np.ndarray]:
    """A CamVid-style colour-mask layout with ``palette``'s classes and black void; returns each image stem's
    class map (255 on void)."""
    rng = np.random.default_rng(seed)
    colours = np.array(list(palette) + [[0, 0, 0]], np.uint8)  # the last "class" is void
    truth = {}
    for index in range(num_train + num_val):
        split = "train" if index < num_train else "val"
        stem = f"0001TP_{index:06d}"
        image, classes = _scene(rng, len(colours))
        for folder in (split, f"{split}_labels"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / split / f"{stem}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / f"{split}_labels" / f"{stem}_L.png"), cv2.cvtColor(colours[classes], cv2.COLOR_RGB2BGR))
        truth[stem] = np.where(classes == len(palette), 255, classes).astype(np.uint8)
    return truth

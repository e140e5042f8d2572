"""Writers for small datasets in the Cityscapes folder layout."""
from pathlib import Path

import cv2
import numpy as np
from cityscapesscripts.helpers.labels import labels as CS_LABELS

VALID_IDS = np.array(sorted(label.id for label in CS_LABELS if label.id >= 0))


def write_pair(root: Path, split: str, city: str, index: int, image: np.ndarray, label_ids: np.ndarray,
               suffix: str = "labelIds") -> tuple:
    """Writes ``<city>_<index>_000019_leftImg8bit.png`` and its ``gtFine`` label; returns both paths."""
    stem = f"{city}_{index:06d}_000019"
    image_path = root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png"
    label_path = root / "gtFine" / split / city / f"{stem}_gtFine_{suffix}.png"
    image_path.parent.mkdir(parents=True, exist_ok=True)
    label_path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(image_path), image)
    cv2.imwrite(str(label_path), label_ids.astype(np.uint8))
    return image_path, label_path


def write_random_cityscapes(root: Path, counts=None, height=32, width=64, seed=0) -> dict:
    """Random images with random valid label ids; returns ``{split: [(image, label ids), ...]}`` in sorted order."""
    rng = np.random.default_rng(seed)
    counts = counts or {"train": 6, "val": 3}
    written = {}
    for split, n in counts.items():
        items = []
        for i in range(n):
            city = ["bochum", "aachen"][i % 2]
            image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            label = rng.choice(VALID_IDS, size=(height, width)).astype(np.uint8)
            paths = write_pair(root, split, city, i, image, label)
            items.append((paths, image, label))
        written[split] = sorted(items, key=lambda item: str(item[0][0]))
    return written

"""Preparing a Cityscapes download: labelIds -> labelTrainIds PNGs and split lists."""
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterable, List

import cv2

from ..utils.progress import Progress
from .cityscapes import find_label, list_split, read_train_ids


def _convert_one(label_path: str) -> str:
    source = Path(label_path)
    target = source.with_name(source.name.replace("_labelIds.png", "_labelTrainIds.png"))
    train_ids = read_train_ids(source)
    tmp = target.with_name(f".{target.name}.tmp.png")
    cv2.imwrite(str(tmp), train_ids)
    os.replace(tmp, target)
    return str(target)


def convert_to_train_ids(root, splits: Iterable[str] = ("train", "val"), workers: int = 1, overwrite: bool = False,
                         progress: bool = True) -> List[str]:
    """Writes ``*_gtFine_labelTrainIds.png`` beside every ``*_gtFine_labelIds.png`` of ``splits``.

    Each file is written through a temporary file and a rename. Existing
    ``labelTrainIds`` files are kept unless ``overwrite``.

    Returns:
        The label files written.
    """
    root = Path(root)
    sources = []
    for split in splits:
        for image in list_split(root, split):
            label = find_label(image)
            source = label.with_name(label.name.replace("_labelTrainIds.png", "_labelIds.png"))
            target = source.with_name(source.name.replace("_labelIds.png", "_labelTrainIds.png"))
            if overwrite or not target.is_file():
                sources.append(str(source))
    bar = Progress(len(sources), "labelTrainIds", unit="img", enabled=progress)
    written = []
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            for path in pool.map(_convert_one, sources, chunksize=16):
                written.append(path)
                bar.update()
    else:
        for source in sources:
            written.append(_convert_one(source))
            bar.update()
    bar.close()
    return written


def write_split_lists(root, out_dir, splits: Iterable[str] = ("train", "val")) -> List[Path]:
    """Writes ``<out_dir>/<split>.txt``: image and label paths relative to ``root``, in segal's id order."""
    root, out_dir = Path(root), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for split in splits:
        images = list_split(root, split)
        lines = [f"{image.relative_to(root)} {find_label(image).relative_to(root)}" for image in images]
        path = out_dir / f"{split}.txt"
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths

"""Evaluating a checkpoint on the test split of a config's dataset (``tools/test.py``)."""
import logging
from pathlib import Path
from typing import Optional

import cv2
import numpy as np
import torch
from mmengine.config import Config
from tqdm import tqdm

from ..apis import build_dataset, build_model
from ..data.loading import make_loader
from ..engine.inference import to_device
from ..reporting.evaluation_report import (
    cityscapes_palette, plot_confusion, write_metrics_json, write_prediction_png, write_report_md,
)
from ..selection import load_checkpoint
from ..utils import resolve_device
from .confusion import ConfusionMatrix

logger = logging.getLogger("segal")


def evaluate_checkpoint(cfg: Config, checkpoint: str, out_dir: str, show_dir: Optional[str] = None) -> dict:
    """Evaluates ``checkpoint`` on the test split and writes the report into ``out_dir``.

    Writes ``metrics.json``, ``report.md`` and ``confusion.png``; with
    ``show_dir`` (segmentation), one PNG per test image: image, ground truth and
    prediction in the Cityscapes palette.

    Returns:
        The metrics written to ``metrics.json``.
    """
    device = resolve_device(cfg.get("device", "auto"))
    dataset = build_dataset(cfg)
    model = build_model(cfg.model, dataset).to(device)
    load_checkpoint(checkpoint, model, cfg.model, list(dataset.classes), device)
    model.eval()
    ids = np.flatnonzero(dataset.is_test)
    if hasattr(dataset, "has_label"):
        ids = ids[dataset.has_label(ids)]
    ignore_index = getattr(dataset, "ignore_index", None)
    confusion = ConfusionMatrix(dataset.num_classes, ignore_index)
    out, show = Path(out_dir), Path(show_dir) if show_dir else None
    out.mkdir(parents=True, exist_ok=True)
    if show is not None:
        if dataset.task != "segmentation":
            raise ValueError("--show-dir needs a segmentation config")
        show.mkdir(parents=True, exist_ok=True)
        palette = cityscapes_palette(dataset.num_classes)
    loader = make_loader(dataset, ids, cfg.train.get("eval_batch_size", 8))
    with torch.no_grad():
        for batch in tqdm(loader, desc="test", disable=None if cfg.loop.get("progress", True) else True, leave=False):
            batch = to_device(batch, device)
            pred = model(batch["inputs"]).argmax(1)
            confusion.update(pred, batch["target"])
            if show is not None:
                for sample_id, target, prediction in zip(batch["id"].tolist(), batch["target"].cpu().numpy(), pred.cpu().numpy()):
                    image = dataset.read_image(sample_id)
                    if image.shape[:2] != target.shape:  # a resizing test pipeline

                        image = cv2.resize(image, (target.shape[1], target.shape[0]))
                    write_prediction_png(show / f"{Path(dataset.image_path(sample_id)).stem}.png", image,
                                         np.where(target == ignore_index, 255, target), prediction, palette)
    metrics = write_metrics_json(out, confusion, dataset.task, dataset.classes)
    write_report_md(out, confusion, dataset.task, dataset.classes, f"Evaluation of {checkpoint}")
    plot_confusion(out / "confusion.png", confusion, dataset.classes)
    logger.info("wrote %s, %s and %s", out / "metrics.json", out / "report.md", out / "confusion.png")
    return metrics

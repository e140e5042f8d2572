"""Evaluating a checkpoint on the test split of a config's dataset (``tools/test.py``)."""
import logging
from pathlib import Path
from typing import Optional

import cv2
import numpy as np
import torch
from mmengine.config import Config

from ..data.loading import make_loader
from ..errors import InvalidValue
from ..evaluation import ConfusionMatrix
from ..reporting.evaluation_report import cityscapes_palette, plot_confusion, write_metrics_json, write_report_md
from ..reporting.figures import image_stem, write_prediction_figure
from ..spec import ExperimentSpec
from ..utils.device import to_device
from ..utils.distributed import all_reduce_sum, is_main, shard
from ..utils.progress import Progress
from .checkpoint import load_checkpoint

logger = logging.getLogger("segal")


def evaluate_checkpoint(cfg: Config, checkpoint: str, out_dir: str, show_dir: Optional[str] = None) -> dict:
    """Evaluates ``checkpoint`` on the test split and writes the report into ``out_dir``.

    Writes ``metrics.json``, ``report.md`` and ``confusion.png``; with
    ``show_dir`` (segmentation), one PNG per test image named after it:
    image, ground truth and prediction in the Cityscapes palette, with a
    legend of the classes shown.

    Under torchrun each rank evaluates a shard of the test images (and draws
    its own ``show_dir`` figures); the confusion matrices are summed and rank 0
    writes the report.

    Returns:
        The metrics written to ``metrics.json`` (an empty dict on other ranks).
    """
    spec = ExperimentSpec(cfg)
    device, dataset = spec.device, spec.dataset
    if show_dir is not None and dataset.task != "segmentation":
        raise InvalidValue("--show-dir needs a segmentation config")
    model = spec.build_model().to(device)
    load_checkpoint(checkpoint, model, cfg.model, list(dataset.classes), device)
    model.eval()
    ids = np.flatnonzero(dataset.is_test)
    if hasattr(dataset, "has_label"):
        ids = ids[dataset.has_label(ids)]
    ignore_index = getattr(dataset, "ignore_index", None)
    confusion = ConfusionMatrix(dataset.num_classes, ignore_index)
    out, show = Path(out_dir), Path(show_dir) if show_dir else None
    if is_main():
        out.mkdir(parents=True, exist_ok=True)
    if show is not None:
        show.mkdir(parents=True, exist_ok=True)
        palette = cityscapes_palette(dataset.num_classes)
    ids = shard(ids)  # under torchrun each rank evaluates its shard; the matrices are summed below
    loader = make_loader(dataset, ids, spec.train.eval_batch_size)
    with torch.no_grad(), Progress(len(ids), "test", unit="sample", enabled=spec.loop.progress) as bar:
        for batch in loader:
            batch = to_device(batch, device)
            pred = model(batch["inputs"]).argmax(1)
            confusion.update(pred, batch["target"])
            bar.update(len(batch["id"]))
            if show is not None:
                for sample_id, target, prediction in zip(batch["id"].tolist(), batch["target"].cpu().numpy(),
                                                         pred.cpu().numpy()):
                    _show_prediction(show, dataset, sample_id, target, prediction, palette, ignore_index)
    confusion.matrix = all_reduce_sum(confusion.matrix)
    if not is_main():
        return {}
    metrics = write_metrics_json(out, confusion, dataset.task, dataset.classes)
    write_report_md(out, confusion, dataset.task, dataset.classes, f"Evaluation of {checkpoint}")
    plot_confusion(out / "confusion.png", confusion, dataset.classes)
    return metrics


def _show_prediction(show: Path, dataset, sample_id: int, target: np.ndarray, prediction: np.ndarray,
                     palette: np.ndarray, ignore_index: int) -> None:
    image = dataset.read_image(sample_id)
    if image.shape[:2] != target.shape:  # a resizing test pipeline
        image = cv2.resize(image, (target.shape[1], target.shape[0]))
    counted = target != ignore_index
    accuracy = (prediction[counted] == target[counted]).mean() if counted.any() else float("nan")
    stem = image_stem(str(dataset.image_path(sample_id)))
    write_prediction_figure(show / f"{stem}.png", image, np.where(counted, target, ignore_index), prediction,
                            palette, list(dataset.classes), f"{stem}: pixel accuracy {accuracy:.3f}", ignore_index)

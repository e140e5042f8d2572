"""Files of the evaluation report: metrics.json, report.md, confusion.png."""
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ..engine.records import evaluation_fields
from ..evaluation import ConfusionMatrix
from ..utils.io import atomic_write_text
from .figures import pyplot, save_figure


def cityscapes_palette(num_classes: int) -> np.ndarray:
    """``[256, 3]`` RGB colours: the Cityscapes colour of each train id, black for ignored."""
    from cityscapesscripts.helpers.labels import trainId2label

    palette = np.zeros((256, 3), np.uint8)
    for train_id in range(num_classes):
        palette[train_id] = trainId2label[train_id].color
    return palette


def write_metrics_json(out_dir: Path, confusion: ConfusionMatrix, task: str, classes: Sequence[str]) -> dict:
    metrics = evaluation_fields(confusion, task, classes)
    atomic_write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2))
    return metrics


def write_report_md(out_dir: Path, confusion: ConfusionMatrix, task: str, classes: Sequence[str], title: str) -> None:
    """A per-class table: the class's score, its share of the ground truth, its share of the predictions."""
    total = max(confusion.total, 1)
    truth_share = confusion.matrix.sum(axis=1) / total
    pred_share = confusion.matrix.sum(axis=0) / total
    if task == "segmentation":
        score_name, scores = "IoU", confusion.per_class_iou()
    else:
        score_name, scores = "accuracy", confusion.per_class_accuracy()
    unit = "pixels" if task == "segmentation" else "samples"
    lines = [f"# {title}", ""]
    if task == "segmentation":
        lines += [f"mIoU **{confusion.mean_iou():.4f}**, pixel accuracy **{confusion.accuracy():.4f}** "
                  f"over {confusion.total:,} {unit}.", ""]
    else:
        lines += [f"accuracy **{confusion.accuracy():.4f}** over {confusion.total:,} {unit}.", ""]
    lines += [f"| class | {score_name} | ground-truth {unit} | share of {unit} | share of predictions |",
              "|---|---|---|---|---|"]
    for c, name in enumerate(classes):
        score = "n/a" if not np.isfinite(scores[c]) else f"{scores[c]:.4f}"
        truth = int(confusion.matrix[c].sum())
        lines.append(f"| {name} | {score} | {truth:,} | {truth_share[c]:.4%} | {pred_share[c]:.4%} |")
    atomic_write_text(out_dir / "report.md", "\n".join(lines) + "\n")


def plot_confusion(path: Path, confusion: ConfusionMatrix, classes: Sequence[str]) -> None:
    """The row-normalised confusion matrix as a heat map."""
    plt = pyplot()

    rows = confusion.matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(confusion.matrix, rows, out=np.zeros(confusion.matrix.shape), where=rows > 0)
    size = max(5, 0.45 * len(classes))
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=90)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    ax.set_title("confusion (rows normalised)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    save_figure(fig, path)

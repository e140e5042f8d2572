"""Step records: the JSON objects that ``metrics.jsonl`` holds, one per step."""
import json
import math
from pathlib import Path
from typing import Iterable, List, Sequence

from ..errors import InvalidValue
from ..evaluation import ConfusionMatrix
from ..utils.io import atomic_write_text


def headline_metric(record: dict) -> str:
    """The metric a record is judged by: ``'accuracy'`` (classification) or ``'mIoU'`` (segmentation)."""
    return "accuracy" if "accuracy" in record else "mIoU"


def _finite_or_none(values: Iterable[float]) -> List:
    """JSON has no NaN: a class without support becomes ``null``."""
    return [None if not math.isfinite(v) else float(v) for v in values]


def evaluation_fields(confusion: ConfusionMatrix, task: str, class_names: Sequence[str]) -> dict:
    """The test-split metrics of a step record.

    Classification: ``accuracy`` and ``per_class_accuracy`` (a list).
    Segmentation: ``mIoU``, ``per_class_iou`` (keyed by class name) and ``pixel_accuracy``.
    """
    if task == "classification":
        return {
            "accuracy": confusion.accuracy(),
            "per_class_accuracy": _finite_or_none(confusion.per_class_accuracy()),
        }
    if task == "segmentation":
        return {
            "mIoU": confusion.mean_iou(),
            "per_class_iou": dict(zip(class_names, _finite_or_none(confusion.per_class_iou()))),
            "pixel_accuracy": confusion.accuracy(),
        }
    raise InvalidValue(f"unknown task {task!r}")


def selection_fields(selected_ids: Sequence[int], confusion: ConfusionMatrix, task: str,
                     class_names: Sequence[str]) -> dict:
    """The selection part of a step record.

    Args:
        selected_ids: The ids chosen at this step for the next one.
        confusion: The selecting model's predictions on those ids against the
            labels the oracle reveals for them.
        task: ``'classification'`` or ``'segmentation'``.
        class_names: Class names, index = class id.

    Returns:
        ``selected_ids``; ``selected_class_counts`` (classification, a list) or
        ``selected_class_pixels`` (segmentation, keyed by class name); and
        ``mistake_rate``: the fraction of selected samples (pixels, for
        segmentation) the model predicted wrongly when it selected them.
    """
    true_counts = confusion.matrix.sum(axis=1).tolist()
    fields = {"selected_ids": [int(i) for i in selected_ids]}
    if task == "segmentation":
        fields["selected_class_pixels"] = dict(zip(class_names, true_counts))
    else:
        fields["selected_class_counts"] = true_counts
    fields["mistake_rate"] = 1 - confusion.accuracy() if confusion.total else None
    return fields


def write_metrics(path: Path, records: Sequence[dict]) -> None:
    """Rewrites ``metrics.jsonl`` atomically with one JSON object per record."""
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def read_metrics(path: Path) -> List[dict]:
    """Reads ``metrics.jsonl``, naming the file and line of a malformed record."""
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise InvalidValue(f"{path}:{number} is not valid JSON: {err}") from None
                if not isinstance(records[-1], dict):
                    raise InvalidValue(f"{path}:{number} is not a step record: it holds a "
                                     f"{type(records[-1]).__name__}, not an object")
    return records

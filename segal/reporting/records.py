"""Step records: the JSON objects that ``metrics.jsonl`` holds, one per step."""
import json
import math
from pathlib import Path
from typing import Iterable, List, Sequence

import numpy as np

from ..evaluation import ConfusionMatrix
from ..utils import atomic_write_text


def _finite_or_none(values: Iterable[float]) -> List:
    """JSON has no NaN: a class without support becomes ``null``."""
    return [None if not math.isfinite(v) else float(v) for v in values]


def evaluation_fields(confusion: ConfusionMatrix, task: str) -> dict:
    """The test-split metrics of a step record for ``task``."""
    if task == "classification":
        return {
            "accuracy": confusion.accuracy(),
            "per_class_accuracy": _finite_or_none(confusion.per_class_accuracy()),
        }
    raise ValueError(f"unknown task {task!r}")


def selection_fields(
    labels: np.ndarray, num_classes: int, selected_ids: Sequence[int], predicted: Sequence[int]
) -> dict:
    """The selection part of a step record.

    Args:
        labels: True label of every global id (what the oracle reveals).
        num_classes: Number of classes.
        selected_ids: The ids chosen at this step for the next one.
        predicted: The model's prediction for each selected id when it chose it.
    """
    selected = np.asarray(selected_ids, dtype=np.int64)
    true = labels[selected]
    return {
        "selected_ids": selected.tolist(),
        "selected_class_counts": np.bincount(true, minlength=num_classes).tolist(),
        "mistake_rate": float(np.mean(np.asarray(predicted) != true)) if len(selected) else None,
    }


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
                    raise ValueError(f"{path}:{number} is not valid JSON: {err}") from err
    return records

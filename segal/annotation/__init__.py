"""Work with trained checkpoints for annotation projects: load them safely, choose what to annotate next
(``tools/select.py``) and evaluate them (``tools/test.py``); hand selections to Label Studio or CVAT with
pre-annotations (``tools/export.py``) and take their finished labels back (``tools/import_labels.py``).

This package sits above the engine and the API: it builds datasets and models from a config.
"""
from .checkpoint import CheckpointMismatch, load_checkpoint
from .evaluate import evaluate_checkpoint
from .select import select_for_annotation

__all__ = ["CheckpointMismatch", "evaluate_checkpoint", "load_checkpoint", "select_for_annotation"]

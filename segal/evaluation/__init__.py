"""Metrics computed from a dataset-wide confusion matrix."""
from .confusion import ConfusionMatrix

__all__ = ["ConfusionMatrix"]

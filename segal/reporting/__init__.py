"""Step records, tables and plots. Computing never prints; reporting never computes metrics."""
from .records import evaluation_fields, read_metrics, selection_fields, write_metrics

__all__ = ["evaluation_fields", "read_metrics", "selection_fields", "write_metrics"]

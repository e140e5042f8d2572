"""segal: active learning for semantic segmentation and image classification."""

__version__ = "0.1.0"

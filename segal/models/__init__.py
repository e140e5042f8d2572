"""Models with a probe split: ``logits = head(trunk(x))``."""
from .classification import MLPClassifier, ResNet18Classifier
from .probe import ProbedModel
from .segmentation import SegmentationModel

__all__ = ["MLPClassifier", "ProbedModel", "ResNet18Classifier", "SegmentationModel"]

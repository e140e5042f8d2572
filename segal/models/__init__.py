"""Models with a probe split: ``logits = head(trunk(x))``."""
from .classification import MLPClassifier, ResNet18Classifier
from .probe import ProbedModel

__all__ = ["MLPClassifier", "ProbedModel", "ResNet18Classifier"]

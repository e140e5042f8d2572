"""Datasets, the active pool and the protocols that split data into pool, holdout and test."""
from .cityscapes import Cityscapes, SyntheticCity
from .classification import CIFAR10, KMNIST, MNIST, SVHN, DatasetFilesNotFound, Digits, InMemoryClassification
from .classification_folder import ClassificationFolder
from .pool import ActivePool, PoolError, Split
from .protocols import BalancedProtocol, ImbalancedProtocol, RandomSplitProtocol, Schedule
from .segmentation_folder import SegmentationFolder

__all__ = [
    "ActivePool", "BalancedProtocol", "CIFAR10", "Cityscapes", "ClassificationFolder", "DatasetFilesNotFound",
    "Digits", "ImbalancedProtocol", "InMemoryClassification", "KMNIST", "MNIST", "PoolError", "RandomSplitProtocol",
    "SVHN", "Schedule", "SegmentationFolder", "Split", "SyntheticCity",
]

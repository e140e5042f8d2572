"""Classifiers from the paper: a 2-layer MLP and ResNet18 for 28/32-pixel inputs."""
import math
from typing import Sequence

import torchvision
from torch import nn

from ..registry import MODELS
from .probe import ProbedModel


@MODELS.register_module()
class MLPClassifier(ProbedModel):
    """Two fully connected layers: ``Linear -> ReLU -> Dropout -> Linear``.

    trunk: ``[B, C, H, W] -> [B, hidden]``; head: the last ``Linear``, ``[B, hidden] -> [B, num_classes]``.

    Args:
        input_shape: ``(C, H, W)`` of one input; filled in from the dataset.
        num_classes: Number of classes; filled in from the dataset.
        hidden: Width of the hidden layer.
        dropout: Dropout probability after the hidden layer (used by MC-Dropout).
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int, hidden: int = 256, dropout: float = 0.5):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Flatten(), nn.Linear(math.prod(input_shape), hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)
        )
        self.head = nn.Linear(hidden, num_classes)


@MODELS.register_module()
class ResNet18Classifier(ProbedModel):
    """torchvision's ResNet18 adapted to small inputs, without pretrained weights.

    The 7x7 stride-2 stem becomes a 3x3 stride-1 conv and the max-pool is
    dropped, so 28/32-pixel inputs keep a 4x4 map before global pooling.

    trunk: ``[B, C, H, W] -> [B, 512]`` (pooled, then dropout); head: the final ``Linear``.

    Args:
        input_shape: ``(C, H, W)`` of one input; filled in from the dataset.
        num_classes: Number of classes; filled in from the dataset.
        dropout: Dropout probability before the final layer (used by MC-Dropout).
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int, dropout: float = 0.0):
        super().__init__()
        net = torchvision.models.resnet18(weights=None, num_classes=num_classes)
        net.conv1 = nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.trunk = nn.Sequential(
            net.conv1, net.bn1, net.relu, net.layer1, net.layer2, net.layer3, net.layer4,
            net.avgpool, nn.Flatten(), nn.Dropout(dropout),
        )
        self.head = net.fc

"""ShapesGapNet: a small CNN with global average pooling and one linear layer, CAM's architecture."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from .data import CLASS_NAMES

# ----------------------------------------------------------------------------------------------
# The model: conv blocks -> 8x8 feature map -> global average pooling -> one linear layer
# ----------------------------------------------------------------------------------------------


def conv_block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU (not in-place, so hooks see the true output)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


def shapes_trunk(out_channels: int) -> nn.Sequential:
    """The conv layers of the shapes networks: (N, 3, 64, 64) images -> (N, out_channels, 8, 8) feature maps A.

    Small and cheap (a network trains in about a minute on 2 CPU cores); the receptive field of
    one cell of A is 53 px, enough to see a whole object (at most 30 px across).
    """
    return nn.Sequential(
        conv_block(3, 16, stride=2),  # (N, 16, 32, 32)
        conv_block(16, 24),  # (N, 24, 32, 32)
        nn.MaxPool2d(2),  # (N, 24, 16, 16)
        conv_block(24, 48),  # (N, 48, 16, 16)
        nn.MaxPool2d(2),  # (N, 48, 8, 8)
        conv_block(48, 64),  # (N, 64, 8, 8)
        conv_block(64, out_channels),  # (N, out_channels, 8, 8): A
    )


class ShapesGapNet(nn.Module):
    """A small GAP CNN, the architecture CAM was defined for.

    ``features`` maps a (N, 3, 64, 64) image to A, the (N, 64, 8, 8) last conv feature map;
    global average pooling gives (N, 64); ``classifier`` (one nn.Linear) gives the 5 logits y.
    So y^c = sum_k w_k^c mean_ij(A^k_ij) + b_c, and CAM is M_c = sum_k w_k^c A^k.

    Attributes:
        feature_layer: name of the module whose output is A ("features").
        classifier_layer: name of the linear head ("classifier").
        categories: the class names, CLASS_NAMES.
    """

    feature_layer: ClassVar[str] = "features"
    classifier_layer: ClassVar[str] = "classifier"
    categories: ClassVar[list[str]] = list(CLASS_NAMES)

    def __init__(self, num_classes: int = len(CLASS_NAMES)) -> None:
        super().__init__()
        self.features = shapes_trunk(64)  # (N, 64, 8, 8): A, the K = 64 maps that CAM weighs
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(64, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """(N, 3, H, W) normalised images -> (N, num_classes) logits."""
        feature_maps = self.features(x)  # (N, K, h, w)
        pooled = self.pool(feature_maps).flatten(1)  # (N, K): GAP
        return self.classifier(pooled)  # (N, num_classes)

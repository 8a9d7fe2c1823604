"""ShapesMLPNet: the same kind of conv layers, but a head that CAM cannot read (flatten + hidden layer)."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from .data import CLASS_NAMES
from .gapnet import shapes_trunk


class ShapesMLPNet(nn.Module):
    """A small CNN whose head is *not* global average pooling + one linear layer.

    ``features`` maps a (N, 3, 64, 64) image to A, the (N, 32, 8, 8) last conv feature map, like
    :class:`ShapesGapNet`; then the head flattens A (every position keeps its own weights),
    ``hidden`` (a linear layer + ReLU) gives 64 numbers and ``classifier`` the 5 logits:

        y = W2 ReLU(W1 flatten(A) + b1) + b2.

    There is no single weight per channel, so CAM has nothing to read; the gradient
    dy^c/dA^k_ij depends on the position (i, j) and on the image: Grad-CAM's alpha is the
    average of a gradient that varies, no longer w_k^c / Z.

    Attributes:
        feature_layer: name of the module whose output is A ("features").
        classifier_layer: name of the last linear layer ("classifier").
        categories: the class names, CLASS_NAMES.
    """

    feature_layer: ClassVar[str] = "features"
    classifier_layer: ClassVar[str] = "classifier"
    categories: ClassVar[list[str]] = list(CLASS_NAMES)

    def __init__(self, num_classes: int = len(CLASS_NAMES), hidden_units: int = 64) -> None:
        super().__init__()
        self.features = shapes_trunk(32)  # (N, 32, 8, 8): A (32 channels keep the flattened head small)
        self.hidden = nn.Sequential(
            nn.Flatten(),  # (N, 32 * 8 * 8): one input per channel *and* position
            nn.Linear(32 * 8 * 8, hidden_units),  # (N, 64)
            nn.ReLU(),
        )
        self.classifier = nn.Linear(hidden_units, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """(N, 3, H, W) normalised 64x64 images -> (N, num_classes) logits."""
        feature_maps = self.features(x)  # (N, 32, 8, 8)
        return self.classifier(self.hidden(feature_maps))  # (N, num_classes)

"""The small fixed classifier that the self-checks of notebooks 07 and 08 test a learner's code on (internal)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import skip_init

#: The hidden image's side: 1 x 3 x 16 x 16.
IMAGE_SIZE = 16


class HiddenClassifier(nn.Module):
    """3 classes: conv 3x3 -> ReLU -> a fixed positive weight per position (so that *where* a pixel is matters)
    -> average over positions -> linear. ``seed`` and ``scale`` make each exercise's network its own."""

    position_weights: torch.Tensor  # a buffer (IMAGE_SIZE, IMAGE_SIZE), registered in __init__

    def __init__(self, seed: int, scale: float) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        # skip_init: no default initialisation, which would draw from the learner's global random state
        self.conv = skip_init(nn.Conv2d, 3, 6, kernel_size=3, padding=1)
        self.linear = skip_init(nn.Linear, 6, 3)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(scale * torch.randn(parameter.shape, generator=generator))
        self.register_buffer("position_weights", 2 * torch.rand(IMAGE_SIZE, IMAGE_SIZE, generator=generator))
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = torch.relu(self.conv(x)) * self.position_weights  # (N, 6, H, W)
        return self.linear(features.mean(dim=(2, 3)))  # (N, 3)

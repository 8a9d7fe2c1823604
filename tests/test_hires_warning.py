"""HiResCAM's "cancels" warning points at the line that called it (the user's), not at cam_utils/variants.py."""

from __future__ import annotations

import linecache

import pytest
import torch
from torch import nn

from cam_utils import forward_with_features, hires_cam, hires_cam_from_forward


class ScaleFree(nn.Module):
    """Each position's channel vector divided by its length: the output ignores the scale of the features there,
    so Σ_k ∂y/∂A^k · A^k = 0 at every position (what a transformer block's output meets in the next LayerNorm)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / x.norm(dim=1, keepdim=True)


@pytest.fixture(scope="module")
def cancelling():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), ScaleFree(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)
    ).eval()
    return model, torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))


def test_the_warning_of_hires_cam_names_the_callers_line(cancelling):
    model, x = cancelling
    with pytest.warns(RuntimeWarning, match="HiResCAM cancels at this layer for 2 of 2 images") as caught:
        hires_cam(model, x, "0")
    assert [w.filename for w in caught] == [__file__]
    assert linecache.getline(__file__, caught[0].lineno).strip() == 'hires_cam(model, x, "0")'


def test_the_warning_of_hires_cam_from_forward_names_the_callers_line(cancelling):
    model, x = cancelling
    forward = forward_with_features(model, x, "0")
    with pytest.warns(RuntimeWarning, match="HiResCAM cancels") as caught:
        hires_cam_from_forward(forward)
    assert [w.filename for w in caught] == [__file__]
    assert linecache.getline(__file__, caught[0].lineno).strip() == "hires_cam_from_forward(forward)"

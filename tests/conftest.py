"""Shared fixtures. The pretrained default model is loaded once per test session."""

from __future__ import annotations

import matplotlib
import pytest

# Figures in tests are drawn off-screen. (Set here, not through MPLBACKEND, because the
# notebook kernels that nbval starts inherit the environment and must plot inline.)
matplotlib.use("Agg")


@pytest.fixture(scope="session")
def lite0():
    """The default model, EfficientNet-Lite0 with its offline pretrained weights."""
    from cam_utils.models import load_model

    return load_model("efficientnet_lite0")

"""Shared fixtures. The pretrained default model is loaded once per test session."""
from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # no display needed for figures

import pytest


@pytest.fixture(scope="session")
def lite0():
    """The default model, EfficientNet-Lite0 with its offline pretrained weights."""
    from cam_utils.models import load_model

    return load_model("efficientnet_lite0")

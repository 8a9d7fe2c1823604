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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Notebook 11 needs the "libraries" extra: skipped with the reason where it is absent (make test-oldest), an
    error where make installed it (tests/libraries.py)."""
    from tests.libraries import LIBRARY_NOTEBOOKS, skip_where_absent

    for item in items:
        if item.path.name in LIBRARY_NOTEBOOKS:
            item.add_marker(skip_where_absent(item.path))

"""The "libraries" extra (Captum, pytorch-grad-cam, torchcam, scipy): required where make installed it.

``make test`` installs the extra into .venv and leaves the stamp ``.installed-libraries`` in the environment's
prefix; ``make test-oldest`` does not (torchcam 0.5 needs a newer numpy than the oldest set). So:

* with the stamp, a missing library is an error (the environment is broken, a skip would hide it);
* without it, the tests and notebook 11 are skipped, with the reason.

Usage in a test module::

    from tests.libraries import require_library

    captum_attr = require_library("captum.attr")
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

LIBRARIES_STAMP = Path(sys.prefix) / ".installed-libraries"
# Notebooks that import the extra's libraries: skipped, whole, where the extra is not installed.
LIBRARY_NOTEBOOKS = frozenset({"11_libraries.ipynb"})
SKIP_REASON = 'the "libraries" extra is not installed here (make test installs it; make test-oldest does not)'


def libraries_installed_by_make() -> bool:
    """True where make installed the extra into this environment: its libraries must then import."""
    return LIBRARIES_STAMP.exists()


def require_library(module_name: str) -> ModuleType:
    """Import MODULE_NAME from the extra; skip the calling test module where the extra is absent."""
    if libraries_installed_by_make():
        return importlib.import_module(module_name)  # an ImportError here is the failure we want
    return pytest.importorskip(module_name, reason=SKIP_REASON)


def library_notebooks_available() -> bool:
    """Whether notebook 11 can run here: every library it imports is importable."""
    names = ("captum", "pytorch_grad_cam", "torchcam", "scipy")
    return all(importlib.util.find_spec(name) is not None for name in names)


@cache
def _extra_absent() -> bool:
    return not (library_notebooks_available() or libraries_installed_by_make())


def skip_where_absent(notebook: Path) -> pytest.MarkDecorator:
    """A mark for a test that executes NOTEBOOK: notebook 11 skipped, with the reason, where the extra is absent
    (make test-oldest); required where make installed it."""
    return pytest.mark.skipif(_extra_absent() and notebook.name in LIBRARY_NOTEBOOKS, reason=SKIP_REASON)


def runnable(notebooks: list[Path]) -> list[object]:
    """NOTEBOOKS as pytest parameters, each with its :func:`skip_where_absent` mark."""
    return [pytest.param(path, marks=skip_where_absent(path)) for path in notebooks]

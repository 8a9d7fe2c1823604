"""docs/site/plain_math.py: the docstrings' plain-text formulas become typeset math on the API page.

What a reader of ``help()`` sees stays plain text; on the website each formula run of a docstring line
becomes a ``:math:`` role with the TeX it means, and nothing else of the line changes.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest

from tests.browser import REPO_ROOT


@pytest.fixture(scope="module")
def plain_math() -> ModuleType:
    spec = importlib.util.spec_from_file_location("plain_math", REPO_ROOT / "docs" / "site" / "plain_math.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("line", "typeset"),
    [
        (
            "Raw class activation maps M_c = Σ_k w_k^c A^k (no ReLU, no normalisation).",
            r"Raw class activation maps :math:`M_c = \sum_k w_k^c A^k` (no ReLU, no normalisation).",
        ),
        (
            "    α_k^c = (1/Z) Σ_ij ∂y^c / ∂A^k_ij          (Z = h·w, the number of positions)",
            r"    :math:`\alpha_k^c = (1/Z) \sum_{ij} \partial y^c / \partial A^k_{ij}`"
            "          (Z = h·w, the number of positions)",
        ),
        ("    L^c   = ReLU( Σ_k α_k^c A^k )", r"    :math:`L^c   = \mathrm{ReLU}( \sum_k \alpha_k^c A^k)`"),
        (
            "So y^c = sum_k w_k^c mean_ij(A^k_ij) + b_c, and CAM",
            r"So :math:`y^c = \sum_k w_k^c \mathrm{mean}_{ij}(A^k_{ij}) + b_c`, and CAM",
        ),
        ("the scale is √d here", r"the scale is :math:`\sqrt{d}` here"),
    ],
)
def test_a_plain_formula_becomes_math(plain_math: ModuleType, line: str, typeset: str) -> None:
    assert plain_math.typeset_line(line) == typeset


@pytest.mark.parametrize(
    "line",
    [
        ":param class_idx: the class index (an int), as in ``y_c.backward()``",
        "Returns the map of `layer_name` for the image, shape (N, h, w).",
        "Nothing to typeset in this sentence, which is prose.",
    ],
)
def test_code_names_and_prose_stay_as_they_are(plain_math: ModuleType, line: str) -> None:
    assert plain_math.typeset_line(line) == line


def test_literal_blocks_and_doctests_are_kept(plain_math: ModuleType) -> None:
    lines = ["The map is::", "", "    M_c = Σ_k w_k^c A^k", "", ">>> y^c = 1", "Then M_c = Σ_k w_k^c A^k."]
    assert plain_math.typeset_docstring(lines) == [*lines[:5], r"Then :math:`M_c = \sum_k w_k^c A^k`."]


def test_an_attribute_body_is_prose(plain_math: ModuleType) -> None:
    """napoleon writes an ``Attributes:`` entry as a directive: its text is typeset like any other."""
    lines = [".. attribute:: gap_head", "", "   CAM applies (M_c = Σ_k w_k^c A^k); False otherwise."]
    assert (
        plain_math.typeset_docstring(lines)[2] == r"   CAM applies (:math:`M_c = \sum_k w_k^c A^k`); False otherwise."
    )

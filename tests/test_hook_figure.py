"""The figure of notebook 03: where each hook runs, drawn by tools/draw_hook_figure.py, committed under docs/images."""

from __future__ import annotations

import importlib.util
import re
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def draw_hook_figure():
    spec = importlib.util.spec_from_file_location("draw_hook_figure", REPO_ROOT / "tools" / "draw_hook_figure.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _plain_labels(svg_text: str) -> set[str]:
    """The labels matplotlib wrote as whole <text> elements (math labels are split into glyphs)."""
    return set(re.findall(r"<text[^>]*>([^<]+)</text>", svg_text))


def test_the_numbers_are_the_order_pytorch_calls_the_hooks(draw_hook_figure):
    module = draw_hook_figure
    assert module.firing_order() == [module.PRE_HOOK, module.FORWARD_HOOK, module.TENSOR_HOOK, module.BACKWARD_HOOK]


def test_without_an_input_that_requires_a_gradient_hook_4_runs_before_hook_3(draw_hook_figure):
    """The exception notebook 03 states beside the figure: nothing to wait for at the module's input."""
    module = draw_hook_figure
    assert module.firing_order(input_requires_grad=False) == [
        module.PRE_HOOK,
        module.FORWARD_HOOK,
        module.BACKWARD_HOOK,
        module.TENSOR_HOOK,
    ]


def test_committed_svg_is_what_the_script_draws(draw_hook_figure, tmp_path):
    committed = REPO_ROOT / "docs" / "images" / "hooks_diagram.svg"
    assert ElementTree.parse(committed).getroot().tag.endswith("svg")
    fresh = tmp_path / committed.name
    draw_hook_figure.save_svg(draw_hook_figure.draw_hooks(draw_hook_figure.firing_order()), fresh)
    labels = _plain_labels(committed.read_text(encoding="utf-8"))
    assert labels == _plain_labels(fresh.read_text(encoding="utf-8"))
    for registration in (
        "module.register_forward_pre_hook(hook)",
        "module.register_forward_hook(hook)",
        "module.register_full_backward_hook(hook)",
    ):
        assert registration in labels


def test_readable_at_the_notebooks_width(draw_hook_figure):
    figure = draw_hook_figure.draw_hooks(draw_hook_figure.firing_order())
    assert tuple(figure.get_size_inches()) == (10.0, 6.8)  # about the width of a notebook cell
    sizes = [text.get_fontsize() for text in figure.axes[0].texts]
    assert sizes and min(sizes) >= 11


def test_notebook_03_shows_the_figure():
    notebook = next((REPO_ROOT / "notebooks").glob("03_*.ipynb")).read_text(encoding="utf-8")
    assert "../docs/images/hooks_diagram.svg" in notebook

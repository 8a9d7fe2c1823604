"""The CAM and Grad-CAM diagrams: drawn by tools/draw_diagrams.py, committed under docs/images."""

from __future__ import annotations

import importlib.util
import re
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def draw_diagrams():
    spec = importlib.util.spec_from_file_location("draw_diagrams", REPO_ROOT / "tools" / "draw_diagrams.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _plain_labels(svg_text: str) -> set[str]:
    """The labels matplotlib wrote as whole <text> elements (math labels are split into glyphs)."""
    return set(re.findall(r"<text[^>]*>([^<]+)</text>", svg_text))


def test_shapes_are_read_from_lite0(draw_diagrams):
    assert draw_diagrams.lite0_shapes() == draw_diagrams.Shapes(image=224, channels=1280, grid=7, classes=1000)


@pytest.mark.parametrize("kind", ["cam", "grad_cam"])
def test_committed_svg_is_what_the_script_draws(draw_diagrams, kind, tmp_path):
    committed = REPO_ROOT / "docs" / "images" / draw_diagrams.FILE_NAMES[kind]
    assert ElementTree.parse(committed).getroot().tag.endswith("svg")
    shapes = draw_diagrams.Shapes(image=224, channels=1280, grid=7, classes=1000)
    fresh = tmp_path / committed.name
    draw_diagrams.save_svg(getattr(draw_diagrams, f"draw_{kind}")(shapes), fresh)
    labels = _plain_labels(committed.read_text(encoding="utf-8"))
    assert labels == _plain_labels(fresh.read_text(encoding="utf-8"))
    assert {"3×224×224", "224×224", "map: 7×7"} <= labels


def test_notebooks_and_readme_embed_the_diagrams():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/images/cam_diagram.svg" in readme and "docs/images/grad_cam_diagram.svg" in readme
    notebook_02 = next((REPO_ROOT / "notebooks").glob("02_*.ipynb")).read_text(encoding="utf-8")
    assert "../docs/images/cam_diagram.svg" in notebook_02

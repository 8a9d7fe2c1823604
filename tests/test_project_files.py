"""The project's own files agree with the package: one version, one licence."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml  # PyYAML: installed with jupyterlab (via jupyter-events)

import cam_utils

ROOT = Path(__file__).resolve().parent.parent


def test_citation_cites_the_package_version():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    assert str(citation["version"]) == cam_utils.__version__, (
        f"CITATION.cff says version {citation['version']}, cam_utils.__version__ is {cam_utils.__version__}"
    )


def test_the_version_is_written_once():
    """pyproject.toml takes the version from cam_utils.__version__ instead of repeating it."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cam_utils.__version__"}


def test_the_licence_named_in_pyproject_is_the_licence_file():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert pyproject["project"]["license"] == citation["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_the_changelog_has_a_section_for_the_current_version():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"\n## [{cam_utils.__version__}]" in changelog

"""The setup files agree with each other: dependencies, kernel name, CI and README commands."""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml  # PyYAML: installed with jupyterlab (via jupyter-events)

ROOT = Path(__file__).resolve().parent.parent
KERNEL_NAME = "cam-tutorial"
# conda-forge package name -> PyPI name, where they differ
CONDA_TO_PYPI = {"pytorch": "torch", "matplotlib-base": "matplotlib"}


def _normalise(requirement: str) -> str:
    """'scikit_image>=0.22' -> 'scikit-image' (PEP 503 name, no version or extras)."""
    name = re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_names_the_same_packages_as_pyproject():
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    pyproject_names = {_normalise(r) for r in project["dependencies"] + extras["dev"] + extras["course"]}

    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert environment["channels"] == ["conda-forge"]
    conda_names, pip_names = set(), set()
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            pip_names |= {_normalise(r) for r in entry["pip"] if not r.startswith("-e")}
            assert "-e ." in entry["pip"], "environment.yml must install the package itself: '-e .' under pip"
        else:
            name = _normalise(entry)
            conda_names.add(CONDA_TO_PYPI.get(name, name))
    assert "python=3.11" in environment["dependencies"]
    conda_names -= {"python", "pip"}
    assert not conda_names & pip_names, "a package is listed both for conda and for pip"
    assert conda_names | pip_names == pyproject_names


def test_makefile_registers_the_kernel_and_reuses_the_environment():
    makefile = (ROOT / "Makefile").read_text()
    assert "--name $(KERNEL)" in makefile and re.search(rf"^KERNEL\s*:=\s*{KERNEL_NAME}$", makefile, re.M)
    assert re.search(r"^\$\(STAMP\): pyproject.toml$", makefile, re.M), "the install step must depend on pyproject.toml only"
    for target in ("lab", "test", "notebooks", "bench"):
        assert re.search(rf"^{target}: .*\$\((BENCH_)?STAMP\)", makefile, re.M), f"make {target} must set up .venv first"
    assert "--nbval " in makefile and "--nbval-lax" not in makefile


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebooks_use_the_project_kernel(path):
    kernelspec = json.loads(path.read_text())["metadata"]["kernelspec"]
    assert kernelspec["name"] == KERNEL_NAME


def test_there_are_notebooks():
    assert any(p.name.startswith("01_") for p in NOTEBOOKS)


def test_ci_runs_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    assert script.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in script
    commands = [line.strip() for line in script.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert "make test" in commands


def test_readme_test_command_is_make_test():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh|shell)?\n(.*?)```", readme, re.S)
    commands = {line.strip() for block in blocks for line in block.splitlines()}
    assert "make test" in commands and "make lab" in commands

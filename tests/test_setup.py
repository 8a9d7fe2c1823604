"""The setup files agree with each other: dependencies, lock, kernel name, CI and README commands."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml  # PyYAML: installed with jupyterlab (via jupyter-events)
from jupyter_client.kernelspec import KernelSpecManager
from packaging.requirements import Requirement  # installed with pytest
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
KERNEL_NAME = "cam-tutorial"
LOCK = ROOT / "requirements" / "lock.txt"  # the tested environment, written by `make lock`
OLDEST = ROOT / "requirements" / "oldest.txt"  # the lowest declared versions, for `make test-oldest`
# conda-forge package name -> PyPI name, where they differ
CONDA_TO_PYPI = {"pytorch": "torch", "matplotlib-base": "matplotlib"}


def _normalise(requirement: str) -> str:
    """'scikit_image>=0.22' -> 'scikit-image' (PEP 503 name, no version or extras)."""
    name = re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _declared(extras: list[str]) -> list[Requirement]:
    """pyproject's dependencies and those of the named extras."""
    project = _pyproject()["project"]
    requirements = project["dependencies"] + [r for extra in extras for r in project["optional-dependencies"][extra]]
    return [Requirement(r) for r in requirements]


def _pins(path: Path) -> dict[str, str]:
    """{normalised name: version} of a constraints file; every line but comments is 'name==version'."""
    pins = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;=]+)", line.strip())
            assert match, f"{path.name}: {line!r} is not 'name==version'"
            name = _normalise(match.group(1))
            assert name not in pins, f"{path.name}: {name} is pinned twice"
            pins[name] = match.group(2)
    return pins


def _lock_python() -> str:
    """The Python version the lock was resolved for (its '# python: X.Y' line)."""
    match = re.search(r"^# python: (\d+\.\d+)$", LOCK.read_text(), re.M)
    assert match, "requirements/lock.txt must say which Python it was resolved for ('# python: X.Y')"
    return match.group(1)


def _environment_entries() -> list[tuple[str, str]]:
    """(PyPI name, version spec) of each package environment.yml installs, conda and pip sections."""
    entries = []
    for entry in yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]:
        for requirement in entry["pip"] if isinstance(entry, dict) else [entry]:
            if requirement.startswith("-e"):
                continue
            name, spec = re.fullmatch(r"([^\s<>=!~;\[]+)\s*(.*)", requirement.strip()).groups()
            entries.append((CONDA_TO_PYPI.get(_normalise(name), _normalise(name)), spec))
    return entries


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


def test_environment_yml_pins_the_locked_versions():
    locked = _pins(LOCK)
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert f"python={_lock_python()}" in environment["dependencies"]
    for name, spec in _environment_entries():
        if name in {"python", "pip"}:
            continue
        assert name in locked, f"environment.yml installs {name}, which requirements/lock.txt lacks: run make lock"
        assert spec == f"=={locked[name]}", f"environment.yml: {name}{spec}, the lock has {locked[name]}: run make lock"


def test_lock_holds_every_declared_dependency_within_its_range():
    """Every dependency of every extra is locked, at a version its declared range allows."""
    locked = _pins(LOCK)
    requirements = _declared(sorted(_pyproject()["project"]["optional-dependencies"]))
    for requirement in requirements:
        name = _normalise(requirement.name)
        assert name in locked, f"{name} is declared but not in requirements/lock.txt: run make lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"requirements/lock.txt has {name}=={locked[name]}, outside the declared {requirement}: run make lock"
        )
    assert "cam-utils" not in locked, "the project itself is installed from the checkout, not locked"


def test_lock_is_resolved_on_the_lowest_declared_python():
    """One Python for the lock, the oldest set and environment.yml: the lowest the project supports."""
    requires_python = _pyproject()["project"]["requires-python"]
    assert requires_python == f">={_lock_python()}"


def test_oldest_set_is_exactly_the_declared_lower_bounds():
    """requirements/oldest.txt (make test-oldest) pins each dependency of the package, of "dev" and of "course"
    (make test installs both) at its lower bound."""
    oldest = _pins(OLDEST)
    lower_bounds = {}
    for requirement in _declared(["dev", "course"]):
        bounds = [s.version for s in requirement.specifier if s.operator in (">=", "==")]
        assert len(bounds) == 1, f"{requirement} needs one lower bound ('>=' or '==') to be tested by make test-oldest"
        lower_bounds[_normalise(requirement.name)] = bounds[0]
    assert set(oldest) == set(lower_bounds), "requirements/oldest.txt must list exactly the declared dependencies"
    for name, version in oldest.items():
        assert Version(version) == Version(lower_bounds[name]), (
            f"requirements/oldest.txt has {name}=={version}, pyproject.toml's lower bound is {lower_bounds[name]}"
        )


def test_readme_states_the_tested_versions():
    """Each 'package X.Y.Z' in the README's "Tested versions" section is a version of the lock or of the oldest set."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Tested versions", 1)[1].split("\n## ", 1)[0]
    tested = {}
    for path in (LOCK, OLDEST):
        for name, version in _pins(path).items():
            tested.setdefault(name, []).append(version)
    mentioned = re.findall(r"\b([a-z][a-z0-9-]*) (\d+(?:\.\d+)+)\b", section)
    assert len([name for name, _ in mentioned if name in tested]) >= 10
    for name, version in mentioned:
        if name in tested:
            assert any(v == version or v.startswith(version + ".") for v in tested[name]), (
                f"README says {name} {version}; the lock and the oldest set have {tested[name]}"
            )


def test_the_project_kernel_runs_in_this_environment():
    """nbval runs every notebook in the kernel the notebooks name: it must be this environment's
    interpreter, or `make test-oldest` would test the notebooks with .venv's packages."""
    argv = KernelSpecManager().get_kernel_spec(KERNEL_NAME).argv
    assert Path(argv[0]).absolute().is_relative_to(Path(sys.prefix).absolute()), (
        f"kernel {KERNEL_NAME!r} starts {argv[0]}, outside {sys.prefix}: register it with "
        f"{sys.executable} -m ipykernel install --sys-prefix --name {KERNEL_NAME}"
    )


def test_makefile_registers_the_kernel_and_reuses_the_environment():
    makefile = (ROOT / "Makefile").read_text()
    assert "--name $(KERNEL)" in makefile and re.search(rf"^KERNEL\s*:=\s*{KERNEL_NAME}$", makefile, re.M)
    assert re.search(r"^\$\(STAMP\): pyproject.toml \$\(CONSTRAINTS\)$", makefile, re.M), (
        "the install step must depend on pyproject.toml and the constraints only"
    )
    for target in ("lab", "test", "notebooks", "bench"):
        assert re.search(rf"^{target}: .*\$\((BENCH_)?STAMP\)", makefile, re.M), (
            f"make {target} must set up .venv first"
        )
    assert "--nbval " in makefile and "--nbval-lax" not in makefile


def test_makefile_installs_with_the_lock_and_tests_the_oldest_set():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^CONSTRAINTS\s*:=\s*requirements/lock.txt$", makefile, re.M)
    assert re.search(
        r"^PIP_INSTALL\s*=\s*\$\(BIN\)/python -m pip install \$\(if \$\(CONSTRAINTS\),--constraint \$\(CONSTRAINTS\)\)$",
        makefile,
        re.M,
    )
    installs = [
        line.strip() for line in makefile.splitlines() if "pip install" in line and not line.lstrip().startswith("#")
    ]
    assert all(line.startswith("$(PIP_INSTALL)") for line in installs if not line.startswith("PIP_INSTALL")), (
        "every install into the environment goes through $(PIP_INSTALL), so that it takes the locked versions"
    )
    assert re.search(r"^lock:\n\t\$\(PYTHON\) tools/lock.py$", makefile, re.M)
    assert re.search(r"^test-oldest:\n\t\$\(MAKE\) test VENV=\S+ CONSTRAINTS=requirements/oldest.txt$", makefile, re.M)


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
    assert "make test" in commands and "make test-oldest" in commands
    assert commands.index("make test") < commands.index("make test-oldest")


def test_readme_test_command_is_make_test():
    readme = (ROOT / "README.md").read_text()
    blocks = [
        body
        for language, body in re.findall(r"```(\w*)\n(.*?)```", readme, re.S)
        if language in ("", "bash", "sh", "shell")
    ]
    commands = {line.split(" #")[0].strip() for block in blocks for line in block.splitlines()}
    assert "make test" in commands and "make lab" in commands
    assert "make test-oldest" in commands and "make lock" in commands

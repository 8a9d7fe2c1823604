"""The setup files agree with each other: dependencies, lock, kernel name, CI and README commands."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml  # PyYAML: installed with jupyterlab (via jupyter-events)
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from packaging.requirements import Requirement  # installed with pytest
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
KERNEL_NAME = "cam-tutorial"
STAMP_NAME = ".installed-dev"  # what `make venv` leaves in the environment it built (the Makefile's $(STAMP))
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
    pyproject_names = {
        _normalise(r) for r in project["dependencies"] + extras["dev"] + extras["course"] + extras["libraries"]
    }

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


def _built_by_make() -> None:
    """Skip (saying why) unless this interpreter's environment is one `make` built: its install stamp is there.

    Outside such an environment (a conda env, a plain `pip install -e .`) there is no project kernel to check. CI
    builds with make and sets CAM_REQUIRE_MAKE_ENV=1 (.ci/run): there a missing stamp fails instead of skipping.
    """
    if (Path(sys.prefix) / STAMP_NAME).exists():
        return
    if os.environ.get("CAM_REQUIRE_MAKE_ENV") == "1":
        pytest.fail(f"CAM_REQUIRE_MAKE_ENV=1, but {sys.prefix} has no {STAMP_NAME}: build it with make venv")
    pytest.skip(f"{sys.prefix} was not built by make (no {STAMP_NAME}): make venv builds .venv and its kernel")


def test_the_project_kernel_runs_in_this_environment():
    """nbval runs every notebook in the kernel the notebooks name: it must be this environment's
    interpreter, or `make test-oldest` would test the notebooks with .venv's packages."""
    _built_by_make()
    register = f"{sys.executable} -m ipykernel install --sys-prefix --name {KERNEL_NAME}"
    try:
        argv = KernelSpecManager().get_kernel_spec(KERNEL_NAME).argv
    except NoSuchKernel:
        pytest.fail(f"no kernel {KERNEL_NAME!r}, though make built this environment: register it with {register}")
    assert Path(argv[0]).absolute().is_relative_to(Path(sys.prefix).absolute()), (
        f"kernel {KERNEL_NAME!r} starts {argv[0]}, outside {sys.prefix}: register it with {register}"
    )


def test_outside_a_make_built_environment_the_kernel_test_skips_except_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "prefix", str(tmp_path))  # an environment without make's stamp
    monkeypatch.delenv("CAM_REQUIRE_MAKE_ENV", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not built by make"):
        _built_by_make()
    monkeypatch.setenv("CAM_REQUIRE_MAKE_ENV", "1")
    with pytest.raises(pytest.fail.Exception, match="CAM_REQUIRE_MAKE_ENV=1"):
        _built_by_make()
    (tmp_path / STAMP_NAME).touch()
    _built_by_make()  # built by make: the kernel test runs


# --- the Makefile, by what `make -n` would run ----------------------------------------------------------------
#: What a make that runs this test hands down to it: MAKEFLAGS, and every variable given on make's command line,
#: which make also exports into its recipes' environment (make test-oldest runs `make test ... LIBRARIES=`: an
#: empty LIBRARIES in the environment would turn `LIBRARIES ?= 1` off in a make this test starts).
MAKE_RUN_VARIABLES = frozenset({"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VENV", "CONSTRAINTS", "LIBRARIES", "OLDEST_VENV"})


def run_make(*arguments: str, timeout_s: float = 600) -> subprocess.CompletedProcess:
    """``make ARGUMENTS`` as a user types it: in this process's environment without what a make running the tests
    handed down (MAKE_RUN_VARIABLES). The callers assert on the exit status and show the output."""
    environment = {key: value for key, value in os.environ.items() if key not in MAKE_RUN_VARIABLES}
    return subprocess.run(
        ["make", "--no-print-directory", *arguments],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=environment,
    )


def _make_dry_run(*arguments: str) -> list[str]:
    """The commands `make -n ARGUMENTS` prints (nothing runs; a recursive $(MAKE) shows its commands too), as a
    user's make would (run_make)."""
    shown = run_make("-n", *arguments, timeout_s=120)
    assert shown.returncode == 0, shown.stderr
    return [line.strip() for line in shown.stdout.splitlines() if line.strip()]


def _installs(commands: list[str]) -> list[str]:
    return [command for command in commands if " -m pip install " in command]


@pytest.mark.parametrize("target", ["lab", "test", "notebooks", "bench"])
def test_a_target_builds_the_environment_first_then_reuses_it(tmp_path, target):
    """In a fresh environment the target installs the package and registers the kernel before its own command; in a
    built one it installs nothing, unless pyproject.toml or the lock changed since (and only then)."""
    venv = tmp_path / "venv"
    fresh = _make_dry_run(target, f"VENV={venv}")
    installs = _installs(fresh)
    assert installs and fresh.index(installs[0]) < len(fresh) - 1, f"make {target} must set up its environment first"
    assert any(
        command.startswith(f"{venv}/bin/python -m ipykernel install --sys-prefix --name {KERNEL_NAME} ")
        for command in fresh
    )
    venv.mkdir()
    for stamp in (STAMP_NAME, ".installed-bench", ".installed-course", ".installed-libraries"):
        (venv / stamp).touch()  # newer than every file of the checkout
    assert _installs(_make_dry_run(target, f"VENV={venv}")) == [], f"make {target} reinstalled a built environment"
    for changed in ("pyproject.toml", "requirements/lock.txt"):
        assert _installs(_make_dry_run(target, f"VENV={venv}", "-W", changed)), f"{changed} changed: reinstall"
    assert _installs(_make_dry_run(target, f"VENV={venv}", "-W", "README.md")) == []


@pytest.mark.parametrize("target", ["test", "bench", "site", "wheelhouse"])
def test_every_install_takes_the_locked_versions(tmp_path, target):
    """Each pip call of a fresh environment (any extra) and of the wheelhouse is constrained by the lock."""
    commands = _make_dry_run(target, f"VENV={tmp_path / 'venv'}")
    pip_calls = [command for command in commands if re.search(r"-m pip (install|download) ", command)]
    assert pip_calls
    assert all("--constraint requirements/lock.txt" in command for command in pip_calls), pip_calls


def test_make_test_runs_every_notebook_under_strict_nbval():
    (pytest_run,) = [command for command in _make_dry_run("test") if " -m pytest " in command]
    arguments = pytest_run.split()
    assert "tests" in arguments and "notebooks" in arguments and "--nbval" in arguments
    assert "--nbval-lax" not in arguments


def test_make_lock_runs_the_lock_tool():
    assert _make_dry_run("lock", "PYTHON=python3") == ["python3 tools/lock.py"]


def test_make_test_oldest_runs_the_same_test_on_the_oldest_set_in_its_own_environment(tmp_path):
    """Asked of a fresh oldest environment (OLDEST_VENV in tmp_path): under `make test-oldest` itself the real
    .venv-oldest is already built, so its dry run installs nothing (CI failed on exactly that)."""
    assert "OLDEST_VENV := .venv-oldest" in (ROOT / "Makefile").read_text()
    oldest_venv = tmp_path / "venv-oldest"
    commands = _make_dry_run("test-oldest", f"OLDEST_VENV={oldest_venv}")
    installs = _installs(commands)
    assert installs and all(
        command.startswith(f"{oldest_venv}/bin/python -m pip install --constraint requirements/oldest.txt ")
        for command in installs
    ), installs
    (pytest_run,) = [command for command in commands if " -m pytest " in command]
    (own_run,) = [command for command in _make_dry_run("test") if " -m pytest " in command]
    assert pytest_run == own_run.replace(".venv/bin/python", f"{oldest_venv}/bin/python")


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
    assert "make lint" in commands and "make test" in commands and "make test-oldest" in commands
    assert commands.index("make lint") < commands.index("make test") < commands.index("make test-oldest")


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

"""Write requirements/lock.txt: the exact versions of the tested environment (`make lock`).

Usage: python3.11 tools/lock.py

pip resolves pyproject.toml's ranges, the dependencies together with every optional extra
(dev, bench, and any added later), as one consistent set, exactly as a fresh `pip install`
would today, without installing anything (`pip install --dry-run --ignore-installed --report`).
The full transitive set is written to requirements/lock.txt, one `name==version` per line;
the Makefile passes that file to every `pip install` into .venv as `--constraint`, so each
extra's install step takes the locked versions too. environment.yml's pins are rewritten to
the same versions (tests/test_setup.py checks that they agree).

The lock is resolved for the Python that runs this script, which must be the one
environment.yml names (3.11), on this platform (Linux x86-64): packages that only other
platforms need are not in it, and pip installs them unpinned there.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCK = REPO_ROOT / "requirements" / "lock.txt"
ENVIRONMENT = REPO_ROOT / "environment.yml"
# conda-forge name -> PyPI name, where they differ (the same table as tests/test_setup.py)
CONDA_TO_PYPI = {"pytorch": "torch", "matplotlib-base": "matplotlib"}
# `  - name<spec>` in environment.yml, conda or pip section; group 2 is the version spec
DEPENDENCY_LINE = re.compile(r"^(\s*-\s+)([A-Za-z0-9][A-Za-z0-9._-]*)(\s*(?:[<>=!~].*)?)$")


def normalise(name: str) -> str:
    """PEP 503 form of a distribution name: 'scikit_image' -> 'scikit-image'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def environment_python() -> str:
    """The Python version environment.yml pins ('python=3.11' -> '3.11')."""
    match = re.search(r"^\s*-\s+python=(\d+\.\d+)\s*$", ENVIRONMENT.read_text(), re.M)
    if match is None:
        sys.exit("error: environment.yml has no 'python=X.Y' line; the lock is resolved for that Python")
    return match.group(1)


def resolve(extras: list[str]) -> dict[str, str]:
    """Ask pip what a fresh install of cam-utils[extras] would install: {name: version}."""
    target = f".[{','.join(extras)}]" if extras else "."
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "--quiet",
                "--report",
                str(report_path),
                target,
            ],
            cwd=REPO_ROOT,
            check=True,
        )
        report = json.loads(report_path.read_text())
    versions = {item["metadata"]["name"]: item["metadata"]["version"] for item in report["install"]}
    versions.pop("cam-utils", None)  # the project itself is installed from the checkout
    return versions


def write_lock(versions: dict[str, str], extras: list[str], python: str) -> None:
    header = [
        "# The tested environment: exact versions of every package, written by `make lock` (tools/lock.py).",
        "# Do not edit by hand. Resolved by pip from pyproject.toml's ranges: the dependencies and the",
        f"# extras {', '.join(extras) or '(none)'}, on Python {python}, Linux x86-64.",
        "# Used as pip constraints by every install into .venv (Makefile); environment.yml pins the same versions.",
        f"# python: {python}",
    ]
    lines = [f"{name}=={versions[name]}" for name in sorted(versions, key=normalise)]
    LOCK.parent.mkdir(exist_ok=True)
    LOCK.write_text("\n".join(header + lines) + "\n")


def pin_environment(versions: dict[str, str]) -> list[str]:
    """Rewrite environment.yml's version specs to the locked versions; return the names not in the lock."""
    locked = {normalise(name): version for name, version in versions.items()}
    missing, lines, in_dependencies = [], [], False
    for line in ENVIRONMENT.read_text().splitlines():
        if line[:1].isalpha():  # a top-level key: name, channels, dependencies
            in_dependencies = line.startswith("dependencies:")
        match = DEPENDENCY_LINE.match(line) if in_dependencies else None
        if match and normalise(match.group(2)) not in {"python", "pip"}:
            name = normalise(match.group(2))
            version = locked.get(CONDA_TO_PYPI.get(name, name))
            if version is None:
                missing.append(match.group(2))
            else:
                line = f"{match.group(1)}{match.group(2)}=={version}"
        lines.append(line)
    ENVIRONMENT.write_text("\n".join(lines) + "\n")
    return missing


def main() -> None:
    python = environment_python()
    running = "{}.{}".format(*sys.version_info[:2])
    if running != python:
        sys.exit(
            f"error: the lock is resolved for Python {python} (environment.yml), this is Python {running}; "
            f"run: make lock PYTHON=python{python}"
        )
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    extras = sorted(pyproject["project"].get("optional-dependencies", {}))
    versions = resolve(extras)
    write_lock(versions, extras, python)
    missing = pin_environment(versions)
    print(
        f"{LOCK.relative_to(REPO_ROOT)}: {len(versions)} packages (extras: {', '.join(extras)}); "
        "environment.yml pinned to the same versions"
    )
    if missing:
        sys.exit(f"error: environment.yml lists packages that the lock does not contain: {', '.join(missing)}")


if __name__ == "__main__":
    main()

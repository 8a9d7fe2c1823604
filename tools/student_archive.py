"""Write the student archive: one zip an instructor hands out, which runs without the repository.

Usage: python tools/student_archive.py [--out _build/cam-tutorial-student.zip] [--answers]

``make student-archive`` runs it. The zip holds one folder, ``cam-tutorial-student/``:

* ``notebooks/``: the student edition of every notebook (tools/student_edition.py: solutions stubbed,
  answers and outputs removed, pictures inside the notebooks);
* ``cam_utils-VERSION-py3-none-any.whl``: the library, built from this checkout (its dependencies come
  from the package index when the student installs it);
* ``constraints.txt``: the exact versions the course is tested with (requirements/lock.txt);
* ``README.md``: setup in four commands, and where the answers are.

The answers page (docs/answers.md) is left out: in a graded class the answers are not one click
away. ``--answers`` (``make student-archive ANSWERS=1``) puts it beside the notebooks and links every
"Your answers" cell to it, for learners working alone.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FOLDER = "cam-tutorial-student"
KERNEL = "cam-tutorial"
FIRST_NOTEBOOK = "01_what_does_the_network_look_at.ipynb"
README = """\
# CAM and Grad-CAM, step by step: student edition (cam-utils {version})

The notebooks in `notebooks/` are yours to fill in. Each coding exercise has a cell that raises
`NotImplementedError("your code here")`: replace that line with your code, run the cell, then run the
self-check below it, which prints ✓ or a hint. The question lists end in an empty "Your answers" cell.

## Setup (once; Python 3.11 or newer)

In this folder, in a terminal (on Windows, write `.venv\\Scripts\\python` for `.venv/bin/python`):

    python3 -m venv .venv
    .venv/bin/python -m pip install --constraint constraints.txt {wheel}
    .venv/bin/python -m ipykernel install --sys-prefix --name {kernel} --display-name "Python ({kernel})"
    .venv/bin/jupyter lab notebooks/{first}

The install downloads PyTorch and the other dependencies (about 1 GB with CUDA on Linux). `constraints.txt`
holds the versions the course is tested with (Python 3.11, Linux x86-64); on another Python or system, leave
`--constraint constraints.txt` out. The notebooks run on the kernel "{kernel}" the third line installs.

## Answers

{answers}
"""
WITHOUT_ANSWERS = (
    "The answers to the questions and the exercises' discussions are not in this folder: your instructor "
    'discusses them. Working alone? They are on the course website\'s "Answers" page and in `docs/answers.md` '
    "of the course repository."
)
WITH_ANSWERS = (
    "`notebooks/answers.md` holds the answers to the questions and the exercises' discussions (open it in "
    'JupyterLab). Write yours first: each "Your answers" cell links to its section.'
)


def _student_edition_tool():
    spec = importlib.util.spec_from_file_location("student_edition", REPO_ROOT / "tools" / "student_edition.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _setuptools_major() -> int:
    """The major version of setuptools in this environment, 0 when it has none."""
    try:
        return int(importlib.metadata.version("setuptools").split(".")[0])
    except importlib.metadata.PackageNotFoundError:
        return 0


def build_wheel(out_dir: Path) -> Path:
    """Build cam_utils' wheel from this checkout into ``out_dir``.

    With setuptools >= 77 in this environment (what pyproject.toml's build needs), the build uses it and downloads
    nothing; with an older one (e.g. make test-oldest's environment), pip builds in an isolated environment and
    fetches setuptools from the package index, as ``make`` does when it installs the project.
    """
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out_dir)]
    if _setuptools_major() >= 77:
        command.append("--no-build-isolation")
    result = subprocess.run([*command, str(REPO_ROOT)], check=False, capture_output=True, text=True)
    wheels = sorted(out_dir.glob("cam_utils-*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        raise SystemExit(f"building the cam_utils wheel failed (pyproject.toml needs setuptools>=77):\n{result.stderr}")
    return wheels[0]


def write_archive(out: Path, *, answers: bool = False) -> Path:
    """Write the zip to ``out`` (replacing it); return its path."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / FOLDER
        sources = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
        _student_edition_tool().write_student_edition(sources, root / "notebooks", answers=answers)
        wheel = build_wheel(root)
        shutil.copyfile(REPO_ROOT / "requirements" / "lock.txt", root / "constraints.txt")
        version = wheel.name.split("-")[1]
        (root / "README.md").write_text(
            README.format(
                version=version,
                wheel=wheel.name,
                kernel=KERNEL,
                first=FIRST_NOTEBOOK,
                answers=WITH_ANSWERS if answers else WITHOUT_ANSWERS,
            ),
            encoding="utf-8",
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(root.parent).as_posix())
        partial.replace(out)  # a reader never sees half a zip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = REPO_ROOT / "_build" / f"{FOLDER}.zip"
    parser.add_argument("--out", type=Path, default=default, help=f"the zip to write (default: {default})")
    parser.add_argument("--answers", action="store_true", help="put the answers page (answers.md) in the archive")
    args = parser.parse_args(argv)
    path = write_archive(args.out, answers=args.answers)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

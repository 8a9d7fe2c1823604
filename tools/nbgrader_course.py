"""The nbgrader course of the notebooks: graded self-checks, no answers, one assignment per notebook.

Usage (from the repository's root, where nbgrader reads nbgrader_config.py):
  python tools/nbgrader_course.py source  [--root DIR] [NOTEBOOK.ipynb ...]   write the course's source
  python tools/nbgrader_course.py release [--root DIR] [NOTEBOOK.ipynb ...]   the source, then the students' release
  python tools/nbgrader_course.py autograde --submissions DIR [--root DIR]     grade DIR/<student>/<assignment>/*.ipynb

``make assignments`` runs ``release``, ``make autograde SUBMISSIONS=DIR`` runs ``autograde``. The course root is
_build/nbgrader (nbgrader_config.py's ``CourseDirectory.root``; ``--root`` for another). Each notebook is one
assignment named after it: ``source/02_cam_on_a_gap_network/02_cam_on_a_gap_network.ipynb``, so an instructor
hands out and grades one notebook at a time. The source is the full edition (notebooks/*.ipynb, which are not
modified) with, cell by cell:

* **The self-check after each coding exercise is a graded, locked test cell** (``grade_id`` = the exercise's
  solution id + ``-check``, :data:`POINTS` points): its ``check_…(…)`` call becomes ``assert check_…(…)``, as a
  check returns a truthy ``CheckResult`` only for a right answer. Where the check alone is too lenient,
  :data:`HIDDEN_TESTS` adds tests between ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``: the release does
  not show them, autograde runs them.
* **Solution cells are shown** (not collapsed) and keep their ``### BEGIN SOLUTION`` regions, which
  ``nbgrader generate_assignment`` replaces by ``raise NotImplementedError("your code here")``.
* **Collapsed answers are left out**, as in the student edition (tools/student_edition.py): a Discussion block
  is deleted, an Answers block becomes an empty "Your answers" cell (ungraded; the formgrader shows what a
  student wrote there), and the hidden claims cells right after either go with it (they re-derive what it says,
  e.g. 02's einsum string, 04's cell (6, 12)). The full edition keeps them all for the instructor.
* **Pictures are embedded** in their cell, as in the student edition (``../docs/images/*.svg`` does not resolve
  in the course folders), and the saved widget state is dropped (it holds pictures of the full edition's explorer).

``autograde`` copies the submissions into the course's ``submitted/`` folder, runs ``nbgrader autograde`` for
each assignment found there, exports every score with ``nbgrader export`` (``grades.csv`` in the course root) and
prints them.
"""

from __future__ import annotations

import argparse
import ast
import copy
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from student_edition import ANSWER_CELL, ANSWERS, DISCUSSION, HIDDEN_NOTE, EmbedPictures, is_solution_cell

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = REPO_ROOT / "_build" / "nbgrader"
POINTS = 1  # per coding exercise; a test cell scores all of them or none
CHECK_MESSAGE = "not yet: the self-check printed what to change above"
# Tests autograde runs besides the self-check, by the exercise's grade_id: where the check alone is too lenient.
# The checks call the learner's function on copies of their hidden inputs, so a function that changes its inputs
# in place passes them; in the notebook those inputs share memory with the model (02: A and the classifier's
# weights) or the photo (08). Each test builds its own small inputs (the notebook's random state is untouched)
# and words its failure like a hint.
_INPUTS_UNCHANGED = """
### BEGIN HIDDEN TESTS
import torch
{inputs}
_kept = [_input.clone() for _input in _inputs]
{function}(*_inputs{more})
assert all(torch.equal(_input, _copy) for _input, _copy in zip(_inputs, _kept)), (
    "{function} changed its input {what} in place: {why}")
del _inputs, _kept
### END HIDDEN TESTS"""
HIDDEN_TESTS = {
    "nb02-ex1": _INPUTS_UNCHANGED.format(
        function="channel_contributions",
        inputs="_inputs = [torch.arange(24.0).reshape(2, 3, 4) - 10, torch.tensor([0.5, -2.0])]",
        more="",
        what="tensors",
        why="in the notebook class_weights is a row of the model's classifier weight, which it would change",
    ),
    "nb02-ex2": _INPUTS_UNCHANGED.format(
        function="batch_cam",
        inputs="_inputs = [torch.arange(24.0).reshape(2, 3, 2, 2) - 5, torch.arange(12.0).reshape(4, 3) / 7 - 0.5]",
        more=", torch.tensor([2, 0])",
        what="tensors",
        why="in the notebook they are the recorded A and the model's classifier weight",
    ),
    "nb08-ex1": _INPUTS_UNCHANGED.format(
        function="deletion_scores",
        inputs="""with torch.random.fork_rng(devices=[]):
    torch.manual_seed(0)
    _model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                 torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    _inputs = [torch.randn(1, 3, 8, 8)]""",
        more=", torch.rand(4, 4, generator=torch.Generator().manual_seed(0)), 1, 4",
        what="image",
        why="delete the pixels on a copy (the photo is used again after the curve)",
    )
    .replace("deletion_scores(*_inputs", "deletion_scores(_model, *_inputs")
    .replace("del _inputs", "del _model, _inputs"),
}


def assignment_name(notebook: Path) -> str:
    """The assignment of one notebook: its file name without .ipynb."""
    return notebook.stem


def graded_check_source(source: str, grade_id: str) -> str:
    """The self-check cell's source with its last ``check_…(…)`` call asserted, plus the exercise's hidden tests."""
    tree = ast.parse(source)
    calls = [
        node
        for node in tree.body
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id.startswith("check_")
    ]
    if not calls:
        raise ValueError(f"{grade_id}: the cell after the solution calls no check_…: {source!r}")
    call = calls[-1]
    lines = source.splitlines()
    end = (call.end_lineno or call.lineno) - 1  # ast sets both ends; its columns count UTF-8 bytes
    last = lines[end].encode()
    column = call.end_col_offset if call.end_col_offset is not None else len(last)
    lines[end] = f'{last[:column].decode()}, "{CHECK_MESSAGE}"{last[column:].decode()}'
    lines[call.lineno - 1] = "assert " + lines[call.lineno - 1]
    return "\n".join(lines) + HIDDEN_TESTS.get(grade_id, "")


def source_notebook(notebook: Any, folder: Path = REPO_ROOT / "notebooks") -> Any:
    """The nbgrader source of one full-edition notebook in ``folder`` (a new notebook: the argument is kept)."""
    notebook = copy.deepcopy(notebook)
    notebook.metadata.pop("widgets", None)
    cells = []
    previous_solution: str | None = None  # the grade_id of the solution cell just before, if any
    after_answers = False  # the claims cells right after an answer check what it says: they go with it
    for index, cell in enumerate(notebook.cells):
        if after_answers and "check" in cell.metadata.get("tags", []):
            continue
        after_answers = False
        if cell.cell_type == "markdown":
            after_answers = bool(DISCUSSION.search(cell.source) or ANSWERS.search(cell.source))
            cell.source = ANSWERS.sub(ANSWER_CELL, DISCUSSION.sub("", cell.source))
            if not cell.source.strip():
                continue  # the cell held a discussion only
            EmbedPictures().preprocess_cell(cell, {"metadata": {"path": str(folder)}}, index)
        elif is_solution_cell(cell):
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell-{cell.get('id', index)}"
            cell.metadata["nbgrader"] = {
                "solution": True,
                "grade": False,
                "locked": False,
                "grade_id": grade_id,
                "schema_version": 3,
            }
            jupyter = cell.metadata.pop("jupyter", {})
            jupyter.pop("source_hidden", None)
            jupyter.pop("outputs_hidden", None)
            if jupyter:
                cell.metadata["jupyter"] = jupyter
            cell.source = HIDDEN_NOTE.sub("", cell.source, count=1)
            cells.append(cell)
            previous_solution = grade_id
            continue
        elif previous_solution is not None and cell.cell_type == "code":
            cell.source = graded_check_source(cell.source, previous_solution)
            cell.metadata["nbgrader"] = {
                "solution": False,
                "grade": True,
                "locked": True,
                "points": POINTS,
                "grade_id": f"{previous_solution}-check",
                "schema_version": 3,
            }
        previous_solution = None
        cells.append(cell)
    notebook.cells = cells
    return notebook


def write_source(sources: list[Path], root: Path) -> list[Path]:
    """Write the source of every notebook into ``root/source/<assignment>/``; return the paths written."""
    written = []
    for path in sources:
        target = root / "source" / assignment_name(path) / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            notebook = source_notebook(nbformat.read(path, as_version=4), path.parent)
        except ValueError as error:  # a solution not followed by its self-check
            raise SystemExit(f"{path}: {error}") from error
        target.write_text(nbformat.writes(notebook) + "\n", encoding="utf-8")
        written.append(target)
    return written


def nbgrader(root: Path, *args: str) -> None:
    """Run one nbgrader command in the repository's root (so that it reads nbgrader_config.py) on ``root``."""
    command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={root.resolve()}"]
    # nbgrader's gradebook runs `alembic` from PATH: the one installed beside this Python, also unactivated.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    result = subprocess.run(command, cwd=REPO_ROOT, check=False, env={**os.environ, "PATH": path})
    if result.returncode != 0:
        raise SystemExit(f"nbgrader {' '.join(args)} failed (exit {result.returncode}); its log is above.")


def autograde(submissions: Path, root: Path) -> list[dict[str, str]]:
    """Copy ``submissions/<student>/<assignment>/`` into the course, autograde them, export and return the scores."""
    known = {path.name for path in (root / "source").iterdir()} if (root / "source").is_dir() else set()
    folders = sorted(path for path in submissions.glob("*/*") if path.is_dir()) if submissions.is_dir() else []
    if not folders:
        raise SystemExit(
            f"No submissions in {submissions}: nbgrader expects {submissions}/<student>/<assignment>/<notebook>.ipynb, "
            "e.g. alice/02_cam_on_a_gap_network/02_cam_on_a_gap_network.ipynb."
        )
    unknown = sorted({folder.name for folder in folders} - known)
    if unknown:
        raise SystemExit(
            f"Unknown assignment(s) {unknown} in {submissions}; the course in {root} has {sorted(known) or 'none'}. "
            "Run `make assignments` first (or pass the --root the assignments were generated in)."
        )
    for folder in folders:
        target = root / "submitted" / folder.parent.name / folder.name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(folder, target)
    for assignment in sorted({folder.name for folder in folders}):
        nbgrader(root, "autograde", assignment, "--force")
    grades = root / "grades.csv"
    nbgrader(root, "export", f"--CsvExportPlugin.to={grades}")
    with grades.open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["source", "release", "autograde"])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="the course folder (default: _build/nbgrader)")
    parser.add_argument("--submissions", type=Path, help="autograde: a folder of <student>/<assignment>/ folders")
    args = parser.parse_intermixed_args(argv)
    if args.command == "autograde":
        if args.submissions is None:
            parser.error("autograde needs --submissions DIR (make autograde SUBMISSIONS=DIR)")
        rows = autograde(args.submissions, args.root)
        print(f"{'student':16s} {'assignment':36s} score")
        for row in rows:  # the submissions of this folder; grades.csv has every student and assignment
            if (args.submissions / row["student_id"] / row["assignment"]).is_dir():
                score, max_score = float(row["score"]), float(row["max_score"])
                print(f"{row['student_id']:16s} {row['assignment']:36s} {score:g} / {max_score:g}")
        print(f"All scores: {args.root / 'grades.csv'}; the feedback: nbgrader generate_feedback, or the formgrader.")
        return 0
    sources = args.notebooks or sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    for path in write_source(sources, args.root):
        print(f"wrote {path}")
    if args.command == "release":
        # One nbgrader run for every assignment of the course ("*"), or one per notebook named.
        for assignment in [assignment_name(path) for path in args.notebooks] or ["*"]:
            nbgrader(args.root, "generate_assignment", assignment, "--force")
        print(f"The release (what students get) is in {args.root / 'release'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

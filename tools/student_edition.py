"""Write the student edition of the notebooks: solutions stubbed, answers and outputs removed.

Usage: python tools/student_edition.py [--out student] [NOTEBOOK.ipynb ...]   (default: notebooks/*.ipynb)

``make student`` runs it (after installing the "course" extra). Every notebook is written to the
output folder under its own name; the folder sits beside ``notebooks/``, so relative links and
pictures (``../docs/images/...``) still resolve. What changes, cell by cell (the exercise format is
the one of docs/DESIGN.md, "Notebook conventions"):

* **Solution code** between nbgrader's markers ``### BEGIN SOLUTION`` / ``### END SOLUTION`` is
  replaced by ``raise NotImplementedError("your code here")``, indented like the markers; code outside
  the markers stays (e.g. a ``def`` line and its docstring). This is nbgrader's own
  ``ClearSolutions`` preprocessor, run through nbconvert's ``NotebookExporter`` (nbgrader comes with
  the "course" extra: it installs next to the pinned JupyterLab 4 / nbconvert 7 stack without
  changing any of them). A solution cell without markers is replaced as a whole; so is a cell
  tagged ``solution`` that has no nbgrader metadata yet (the format before the DESIGN convention).
* **Solution cells are shown**: the DESIGN hides their source and outputs in the full edition; here
  the stub is what the student edits. The first-line comment loses "(the solution is hidden in
  this cell)".
* **Collapsed answers are removed.** A coding exercise's ``<details><summary>Discussion ...``
  block is deleted. The ``<details><summary>Answers ...`` block after a list of questions is
  replaced by an empty answer cell ("Your answers"): an instructor assigns these questions as
  homework or discusses them in class, and an answer one click away defeats both; the full edition
  (the repository's notebooks and the course website) keeps every answer for instructors and
  self-learners. The questions themselves, the exercise texts and the self-check cells stay as
  they are.
* **Every output is removed** (nbgrader's ``ClearOutput``, as ``nbgrader generate_assignment``
  does), with the saved widget state: an output after an exercise can give away its result (a
  self-check printing ✓, a figure drawn from the solution), and students run the notebook anyway.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
from nbconvert.exporters import NotebookExporter
from nbconvert.preprocessors import Preprocessor
from traitlets.config import Config

REPO_ROOT = Path(__file__).resolve().parent.parent
#: What a stubbed solution raises; the student edition's test accepts exactly this error there.
STUB = 'raise NotImplementedError("your code here")'
HIDDEN_NOTE = re.compile(r"\s*\(the solution is hidden in this cell\)")
DISCUSSION = re.compile(r"<details>\s*<summary>\s*Discussion.*?</details>", re.S | re.I)
ANSWERS = re.compile(r"<details>\s*<summary>\s*Answers.*?</details>", re.S | re.I)
ANSWER_CELL = "**Your answers** (double-click this cell to write them):\n\n1. "


def is_solution_cell(cell: Any) -> bool:
    """A cell with nbgrader's solution metadata, or (older format) tagged ``solution``."""
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution")) or (
        "solution" in cell.get("metadata", {}).get("tags", [])
    )


class MarkTaggedSolutions(Preprocessor):
    """Give a cell tagged ``solution`` nbgrader's solution metadata, so that ClearSolutions clears it."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_solution_cell(cell) and "nbgrader" not in cell.metadata:
            cell.metadata["nbgrader"] = {
                "solution": True,
                "grade": False,
                "locked": False,
                "grade_id": f"cell-{cell.get('id', index)}",
                "schema_version": 3,
            }
        return cell, resources


class ShowSolutionCells(Preprocessor):
    """Un-hide the (now stubbed) solution cells and drop the note that the solution is hidden."""

    def preprocess_cell(self, cell, resources, index):
        if is_solution_cell(cell):
            jupyter = cell.metadata.get("jupyter", {})
            jupyter.pop("source_hidden", None)
            jupyter.pop("outputs_hidden", None)
            if not jupyter:
                cell.metadata.pop("jupyter", None)
            cell.source = HIDDEN_NOTE.sub("", cell.source, count=1)
        return cell, resources


class RemoveCollapsedAnswers(Preprocessor):
    """Delete Discussion blocks; replace Answers blocks by an empty answer cell."""

    def preprocess(self, nb, resources):
        kept = []
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                source = DISCUSSION.sub("", cell.source)
                source = ANSWERS.sub(ANSWER_CELL, source)
                if not source.strip():
                    continue  # the cell held the discussion only
                cell.source = source
            kept.append(cell)
        nb.cells = kept
        return nb, resources


class DropWidgetState(Preprocessor):
    """Remove the saved widget state (it holds the pictures of the full edition's explorer)."""

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)
        return nb, resources


def _exporter() -> NotebookExporter:
    try:
        from nbgrader.preprocessors import ClearOutput, ClearSolutions
    except ImportError as error:
        raise SystemExit(
            f"nbgrader is not installed ({error}). `make student` installs it with the course extra; "
            'by hand: .venv/bin/pip install -e ".[course]"'
        ) from error
    config = Config()
    config.ClearSolutions.code_stub = {"python": STUB}
    config.NotebookExporter.preprocessors = [
        MarkTaggedSolutions,
        ClearSolutions,
        ShowSolutionCells,
        RemoveCollapsedAnswers,
        ClearOutput,
        DropWidgetState,
    ]
    return NotebookExporter(config=config)


def student_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student edition of one notebook (nbconvert works on a copy: the argument is not modified)."""
    body, _ = _exporter().from_notebook_node(notebook)
    return nbformat.reads(body, as_version=4)


def write_student_edition(sources: list[Path], out_dir: Path) -> list[Path]:
    """Write the student edition of every notebook in ``sources`` into ``out_dir``; return the paths."""
    exporter = _exporter()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources:
        notebook = nbformat.read(source, as_version=4)
        try:
            body, _ = exporter.from_notebook_node(notebook)
        except RuntimeError as error:  # ClearSolutions: unmatched or misplaced markers
            raise SystemExit(f"{source}: {error}") from error
        target = out_dir / source.name
        target.write_text(body, encoding="utf-8")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "student", help="output folder (default: student/)")
    args = parser.parse_args(argv)
    sources = args.notebooks or sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    if not sources:
        print("No notebooks found.", file=sys.stderr)
        return 1
    for path in write_student_edition(sources, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

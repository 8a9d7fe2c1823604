"""Write the student edition of the notebooks: solutions stubbed, answers and outputs removed.

Usage: python tools/student_edition.py [--out student] [--answers] [NOTEBOOK.ipynb ...]   (default: notebooks/*.ipynb)

``make student`` runs it (after installing the "course" extra). Every notebook is written to the
output folder under its own name. What changes, cell by cell (the exercise format is
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
* **Pictures travel inside the notebook**, so that the edition works when written elsewhere, zipped
  or handed out (``make student-archive``): a Markdown picture with a relative path
  (``../docs/images/cam_diagram.svg``) becomes a cell attachment (PNG, JPEG, GIF, WebP) or, for SVG,
  an ``<img>`` with a ``data:`` URL: JupyterLab 4 refuses SVG attachments ("Cannot render unknown
  image mime type", jupyterlab/jupyterlab#10464) but shows an SVG data URL. A missing picture
  stops the edition with its path.
* **The answers page** (docs/answers.md, written by tools/answers_page.py) is left out unless
  ``--answers`` is given (``make student ANSWERS=1``; ``make lab STUDENT=1`` gives it, for a learner
  working alone): then it is copied beside the notebooks as ``answers.md`` and every "Your answers"
  cell links to it. Without it, the cell says where a learner working alone finds the answers.
"""

from __future__ import annotations

import argparse
import base64
import html
import mimetypes
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
from nbconvert.exporters import NotebookExporter
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool
from traitlets.config import Config

REPO_ROOT = Path(__file__).resolve().parent.parent
#: What a stubbed solution raises; the student edition's test accepts exactly this error there.
STUB = 'raise NotImplementedError("your code here")'
HIDDEN_NOTE = re.compile(r"\s*\(the solution is hidden in this cell\)")
DISCUSSION = re.compile(r"<details>\s*<summary>\s*Discussion.*?</details>", re.S | re.I)
ANSWERS = re.compile(r"<details>\s*<summary>\s*Answers.*?</details>", re.S | re.I)
ANSWER_CELL = "**Your answers** (double-click this cell to write them):\n\n1. "
ANSWERS_PAGE = REPO_ROOT / "docs" / "answers.md"
ANSWERS_TITLE = "# Answers to the questions and exercises"  # the first line of docs/answers.md
#: Where the "Your answers" cell sends a learner working alone, without and with the answers page beside it.
ANSWERS_ELSEWHERE = (
    '\n\n*Working alone?* The answers are on the course website\'s "Answers" page and in `docs/answers.md` '
    "of the course repository; in a class, your instructor discusses them."
)
ANSWERS_HERE = (
    "\n\n*Working alone?* When you have written yours, compare with [the answers](answers.md), section {title}."
)
MARKDOWN_PICTURE = re.compile(r"!\[(?P<alt>[^\]]*)\]\(\s*<?(?P<path>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_PICTURE = re.compile(r"(?P<head><img\b[^>]*?\bsrc=)(?P<quote>[\"'])(?P<path>[^\"']+)(?P=quote)", re.I)
#: What JupyterLab 4 shows as a cell attachment (its image renderer's types); SVG goes in as a data URL.
ATTACHABLE = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"}


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
    """Delete Discussion blocks; replace Answers blocks by an empty answer cell that says where the answers are."""

    answers_beside = Bool(False, help="answers.md is written beside the notebooks: link to it").tag(config=True)

    def preprocess(self, nb, resources):
        title = next((m.group(1).strip() for c in nb.cells if (m := re.search(r"^#\s+(.+)$", c.source, re.M))), "")
        pointer = ANSWERS_HERE.format(title=f'"{title}"') if self.answers_beside else ANSWERS_ELSEWHERE
        kept = []
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                source = DISCUSSION.sub("", cell.source)
                source = ANSWERS.sub(lambda _: ANSWER_CELL.replace(":\n\n", ":" + pointer + "\n\n", 1), source)
                if not source.strip():
                    continue  # the cell held the discussion only
                cell.source = source
            kept.append(cell)
        nb.cells = kept
        return nb, resources


def _is_relative(path: str) -> bool:
    return not re.match(r"^([a-z][a-z0-9+.-]*:|/|#)", path, re.I)


def _picture(folder: Path, path: str) -> tuple[str, bytes]:
    """The MIME type and bytes of a picture referenced from a notebook in ``folder``."""
    file = (folder / path).resolve()
    mime = mimetypes.guess_type(file.name)[0] or ""
    if not file.is_file() or not mime.startswith("image/"):
        raise FileNotFoundError(
            f"picture {path!r} not found (looked for {file}): the student edition embeds every picture a notebook "
            "shows; fix the path in the notebook or add the file"
        )
    return mime, file.read_bytes()


class EmbedPictures(Preprocessor):
    """Put every relatively referenced picture of a Markdown cell into the cell (attachment or data URL)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "markdown":
            return cell, resources
        folder = Path(resources.get("metadata", {}).get("path") or REPO_ROOT / "notebooks")

        def data_url(path: str) -> str:
            mime, data = _picture(folder, path)
            return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"

        def markdown(match: re.Match[str]) -> str:
            path, alt = match["path"], match["alt"]
            if not _is_relative(path):
                return match.group(0)
            mime, data = _picture(folder, path)
            if mime in ATTACHABLE:
                name = Path(path).name
                cell.setdefault("attachments", {})[name] = {mime: base64.b64encode(data).decode("ascii")}
                return f"![{alt}](attachment:{name})"
            return f'<img src="{data_url(path)}" alt="{html.escape(alt)}">'

        def tag(match: re.Match[str]) -> str:
            if not _is_relative(match["path"]):
                return match.group(0)
            return f"{match['head']}{match['quote']}{data_url(match['path'])}{match['quote']}"

        cell.source = HTML_PICTURE.sub(tag, MARKDOWN_PICTURE.sub(markdown, cell.source))
        return cell, resources


class DropWidgetState(Preprocessor):
    """Remove the saved widget state (it holds the pictures of the full edition's explorer)."""

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)
        return nb, resources


def _exporter(*, embed_pictures: bool = True, answers_beside: bool = False) -> NotebookExporter:
    try:
        from nbgrader.preprocessors import ClearOutput, ClearSolutions
    except ImportError as error:
        raise SystemExit(
            f"nbgrader is not installed ({error}). `make student` installs it with the course extra; "
            'by hand: .venv/bin/pip install -e ".[course]"'
        ) from error
    config = Config()
    config.ClearSolutions.code_stub = {"python": STUB}
    config.RemoveCollapsedAnswers.answers_beside = answers_beside
    config.NotebookExporter.preprocessors = [
        MarkTaggedSolutions,
        ClearSolutions,
        ShowSolutionCells,
        RemoveCollapsedAnswers,
        ClearOutput,
        DropWidgetState,
        *([EmbedPictures] if embed_pictures else []),
    ]
    return NotebookExporter(config=config)


def student_notebook(
    notebook: nbformat.NotebookNode,
    folder: Path = REPO_ROOT / "notebooks",
    *,
    embed_pictures: bool = True,
    answers_beside: bool = False,
) -> nbformat.NotebookNode:
    """The student edition of one notebook that lives in ``folder`` (its pictures' paths are relative to it).

    nbconvert works on a copy: the argument is not modified. ``embed_pictures=False`` keeps the relative
    paths (the student website, built beside the pictures, does so).
    """
    exporter = _exporter(embed_pictures=embed_pictures, answers_beside=answers_beside)
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"path": str(folder)}})
    return nbformat.reads(body, as_version=4)


def student_edition_for_site(full: str) -> str:
    """The student website's chapter (notebook JSON in, JSON out): the student edition, with the lesson's outputs.

    Every output from the first solution cell on is dropped (it may show a solution's result); the
    outputs before it are the lesson's figures and tables, which a reader of a static page needs. The
    pictures keep their relative paths: the site is built beside them.
    """
    notebook = nbformat.reads(full, as_version=4)
    student = student_notebook(notebook, embed_pictures=False)
    first = next((index for index, cell in enumerate(notebook.cells) if is_solution_cell(cell)), len(notebook.cells))
    lesson = {cell.get("id"): cell for cell in notebook.cells[:first] if cell.cell_type == "code"}
    for cell in student.cells:
        if cell.cell_type == "code" and cell.get("id") in lesson:
            cell.outputs = lesson[cell.id].outputs
            cell.execution_count = lesson[cell.id].execution_count
    return nbformat.writes(student)


def write_answers_page(out_dir: Path) -> Path:
    """Copy docs/answers.md beside the student notebooks, its links to the notebooks made local."""
    if not ANSWERS_PAGE.is_file():
        raise SystemExit(f"{ANSWERS_PAGE} not found: write it with python tools/answers_page.py")
    target = out_dir / "answers.md"
    target.write_text(ANSWERS_PAGE.read_text(encoding="utf-8").replace("](../notebooks/", "]("), encoding="utf-8")
    return target


def write_student_edition(sources: list[Path], out_dir: Path, *, answers: bool = False) -> list[Path]:
    """Write the student edition of every notebook in ``sources`` into ``out_dir``; return the paths.

    ``answers=True`` also writes the answers page (answers.md) there and links every answer cell to it.
    """
    exporter = _exporter(answers_beside=answers)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources:
        notebook = nbformat.read(source, as_version=4)
        try:
            body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"path": str(source.parent)}})
        except (RuntimeError, FileNotFoundError) as error:  # misplaced solution markers; a missing picture
            raise SystemExit(f"{source}: {error}") from error
        target = out_dir / source.name
        target.write_text(body, encoding="utf-8")
        written.append(target)
    stale = out_dir / "answers.md"
    if answers:
        written.append(write_answers_page(out_dir))
    elif stale.is_file() and stale.read_text(encoding="utf-8").startswith(ANSWERS_TITLE):
        stale.unlink()  # written by an earlier run with --answers: this edition is without them
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "student", help="output folder (default: student/)")
    parser.add_argument("--answers", action="store_true", help="write answers.md beside the notebooks and link it")
    args = parser.parse_args(argv)
    sources = args.notebooks or sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    if not sources:
        print("No notebooks found.", file=sys.stderr)
        return 1
    for path in write_student_edition(sources, args.out, answers=args.answers):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

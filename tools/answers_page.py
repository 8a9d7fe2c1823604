"""Write docs/answers.md: the notebooks' collapsed answers on one page that a learner opens on purpose.

Usage: python tools/answers_page.py [--check]   (--check: exit 1 when docs/answers.md is not current)

Every notebook keeps its answers in ``<details><summary>Answers ...`` blocks (after a list of
questions) and ``<details><summary>Discussion ...`` blocks (after a coding exercise). The student
edition removes both (tools/student_edition.py); this page gathers them, notebook by notebook: the
questions with their answers, then each coding exercise's discussion under the exercise's title.
The Markdown (math included) is copied as it is; only the <details> wrappers go.

Who sees it: the repository and the instructor's website (a "For instructors and contributors" page),
and a student edition built with ``ANSWERS=1`` (``make lab STUDENT=1`` does, for a learner working
alone). The student website and the default student archive leave it out: in a graded class the
answers are not one click away (docs/teaching.md, "The student edition").
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
PAGE = REPO_ROOT / "docs" / "answers.md"
BLOCK = re.compile(r"<details>\s*<summary>\s*(Answers|Discussion)[^<]*</summary>(.*?)</details>", re.S | re.I)
HEADING = re.compile(r"^(#{1,6})\s+(.+)$", re.M)
INTRO = """\
# Answers to the questions and exercises

The answers that the notebooks keep folded under "Answers" and "Discussion", one section per
notebook. Write your own answers first: the student edition leaves an empty "Your answers" cell
for them. This page is generated from the notebooks (`python tools/answers_page.py`): do not edit
it by hand.
"""


def _title(notebook: nbformat.NotebookNode, fallback: str) -> str:
    """The notebook's first level-1 heading."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if match:
                return match.group(1).strip()
    return fallback


def _last_heading(source: str, level: str) -> str | None:
    found = [text for hashes, text in HEADING.findall(source) if hashes == level]
    return found[-1].strip() if found else None


def notebook_section(path: Path) -> str:
    """The Markdown section of one notebook: its questions and answers, then its discussions; "" if none."""
    notebook = nbformat.read(path, as_version=4)
    parts: list[str] = []
    previous = ""  # the markdown before the block: the questions, or the exercise's text
    exercise = None
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        exercise = _last_heading(cell.source, "###") if "exercise" in cell.source.lower() else exercise
        for match in BLOCK.finditer(cell.source):
            kind, body = match.group(1).capitalize(), match.group(2).strip()
            before = cell.source[: match.start()].strip() or previous
            if kind == "Answers":
                questions = before.split("### Questions", 1)[-1].strip()
                parts.append(f"### Questions\n\n{questions}\n\n### Answers\n\n{body}")
            else:
                parts.append(f"### {exercise or 'Coding exercise'}\n\n**Discussion**\n\n{body}")
        previous = BLOCK.sub("", cell.source).strip() or previous
    if not parts:
        return ""
    link = f"../notebooks/{path.name}"
    return f"## {_title(notebook, path.stem)}\n\n[The notebook]({link})\n\n" + "\n\n".join(parts)


def answers_page(sources: list[Path]) -> str:
    """The whole page for the given notebooks, in their order."""
    sections = [section for section in map(notebook_section, sources) if section]
    return INTRO + "\n" + "\n\n".join(sections) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/answers.md is not current")
    args = parser.parse_args(argv)
    text = answers_page(sorted((REPO_ROOT / "notebooks").glob("*.ipynb")))
    if args.check:
        if not PAGE.exists() or PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE} is not current: run python tools/answers_page.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

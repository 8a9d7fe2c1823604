"""How long a notebook takes to study, computed from its text: one formula, used by the headers and their test.

    minutes = words / 100 + code lines / 8 + 3 per question + 15 per coding exercise

* **words**: the whitespace-separated words of the markdown cells (formulas count by their pieces), without
  the closing References cell. Reading a technical text with formulas runs at about 100 words a minute.
* **code lines**: the non-blank lines of the code cells a learner reads and runs: not the collapsed check
  cells (tag ``check``) nor the hidden solutions (tag ``solution``), whose time the exercise's 15 minutes cover.
  About 8 lines a minute to read, run and look at the output.
* **questions**: numbered items after a ``### Questions`` heading (not those of a folded answer), 3 minutes each (think, then open the answer).
* **coding exercises**: ``### Coding exercise N`` headings, 15 minutes each.

The *main path* is every cell outside an optional section; an optional section starts at a markdown cell whose
first line is a level-2 heading ``## Optional…`` and runs to the next level-2 heading. Nothing in the main path
may depend on it. The header states both times, rounded to the nearest 5 minutes::

    **Study time:** about 55 minutes for the main path (...), and about 20 more for the optional sections.

``python tools/study_time.py`` prints the table; ``--write`` puts the computed times into the headers;
``--sections`` prints the load of every section (each heading of level 1 to 3 starts one), which is how the
teaching guide's plans add up the sections they cover.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WORDS_PER_MINUTE = 100
CODE_LINES_PER_MINUTE = 8
MINUTES_PER_QUESTION = 3
MINUTES_PER_CODING_EXERCISE = 15
#: The most words of prose the main path of one notebook may have.
MAIN_PATH_WORD_LIMIT = 2500

OPTIONAL_HEADING = re.compile(r"^## Optional\b")
LEVEL2_HEADING = re.compile(r"^## \S", re.MULTILINE)
QUESTION = re.compile(r"^\d+\. ", re.MULTILINE)
CODING_EXERCISE = re.compile(r"^### Coding exercise \d+", re.MULTILINE)
STUDY_TIME_LINE = re.compile(r"\*\*Study time:\*\*[^\n]*")


@dataclass
class Load:
    """What one part of a notebook asks of a learner."""

    words: int = 0
    code_lines: int = 0
    questions: int = 0
    coding_exercises: int = 0

    @property
    def minutes(self) -> float:
        return (
            self.words / WORDS_PER_MINUTE
            + self.code_lines / CODE_LINES_PER_MINUTE
            + MINUTES_PER_QUESTION * self.questions
            + MINUTES_PER_CODING_EXERCISE * self.coding_exercises
        )

    @property
    def rounded_minutes(self) -> int:
        """The minutes rounded to the nearest 5 (at least 5 when there is anything to study)."""
        if self.minutes == 0:
            return 0
        return max(5, 5 * round(self.minutes / 5))


def is_check_cell(cell: nbformat.NotebookNode) -> bool:
    return "check" in cell.metadata.get("tags", [])


def is_solution_cell(cell: nbformat.NotebookNode) -> bool:
    return "solution" in cell.metadata.get("tags", [])


def optional_flags(notebook: nbformat.NotebookNode) -> list[bool]:
    """For every cell, whether it lies in an optional section."""
    flags, optional = [], False
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            headings = LEVEL2_HEADING.findall(cell.source)
            first_line = cell.source.lstrip().splitlines()[0] if cell.source.strip() else ""
            if OPTIONAL_HEADING.match(first_line):
                optional = True
            elif headings:
                optional = False
        flags.append(optional)
    return flags


def notebook_load(path: Path) -> tuple[Load, Load]:
    """(main path, optional sections) of the notebook at ``path``."""
    notebook = nbformat.read(path, as_version=4)
    main, optional = Load(), Load()
    for cell, is_optional in zip(notebook.cells, optional_flags(notebook), strict=True):
        part = optional if is_optional else main
        if cell.cell_type == "markdown":
            if cell.source.startswith("## References"):
                continue
            part.words += len(cell.source.split())
            if "### Questions" in cell.source:
                asked = cell.source.split("### Questions", 1)[1].split("<details>", 1)[0]  # not the answers
                part.questions += len(QUESTION.findall(asked))
            part.coding_exercises += len(CODING_EXERCISE.findall(cell.source))
        elif cell.cell_type == "code" and not is_check_cell(cell) and not is_solution_cell(cell):
            part.code_lines += sum(1 for line in cell.source.splitlines() if line.strip())
    return main, optional


@dataclass
class Section:
    """One section of a notebook: from a heading (level 1 to 3) to the next one, and what it asks."""

    heading: str
    level: int
    optional: bool
    load: Load


HEADING = re.compile(r"^(#{1,3}) (.+?)\s*$")


def _markdown_pieces(source: str) -> list[tuple[tuple[int, str] | None, str]]:
    """A markdown cell cut at its headings (fenced code skipped): (heading or None, its text, heading line included)."""
    pieces: list[tuple[tuple[int, str] | None, list[str]]] = [(None, [])]
    fenced = False
    for line in source.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := HEADING.match(line)):
            pieces.append(((len(match.group(1)), match.group(2)), []))
        pieces[-1][1].append(line)
    return [(heading, "\n".join(lines)) for heading, lines in pieces if heading is not None or lines]


def section_loads(path: Path) -> list[Section]:
    """Every section of the notebook at ``path``, in order, with its load; they add up to ``notebook_load``.

    A section runs from a heading of level 1 to 3 to the next such heading, in markdown or past code cells;
    the References section and the solution and check cells count nothing, as in ``notebook_load``.
    """
    notebook = nbformat.read(path, as_version=4)
    sections: list[Section] = []
    for cell, is_optional in zip(notebook.cells, optional_flags(notebook), strict=True):
        if cell.cell_type == "markdown":
            for heading, text in _markdown_pieces(cell.source):
                if heading is not None:
                    sections.append(Section(heading[1], heading[0], is_optional, Load()))
                elif not sections:
                    sections.append(Section("", 0, is_optional, Load()))  # text before the first heading
                if cell.source.startswith("## References"):
                    continue
                load = sections[-1].load
                load.words += len(text.split())
                if "### Questions" in text:
                    asked = text.split("### Questions", 1)[1].split("<details>", 1)[0]
                    load.questions += len(QUESTION.findall(asked))
                load.coding_exercises += len(CODING_EXERCISE.findall(text))
        elif cell.cell_type == "code" and not is_check_cell(cell) and not is_solution_cell(cell) and sections:
            sections[-1].load.code_lines += sum(1 for line in cell.source.splitlines() if line.strip())
    return sections


def study_time_sentence(main: Load, optional: Load) -> str:
    """The header's sentence for these loads."""
    sentence = (
        f"**Study time:** about {main.rounded_minutes} minutes for the main path ({main.words:,} words, "
        f"{main.code_lines} lines of code, {main.questions} questions, {main.coding_exercises} coding "
        f"exercise{'s' if main.coding_exercises != 1 else ''})"
    )
    if optional.minutes:
        sentence += f", and about {optional.rounded_minutes} more for the optional sections"
    return sentence + "; computed by `tools/study_time.py`."


def write_header(path: Path) -> bool:
    """Put the computed study time into the header of the notebook at ``path``; True if it changed.

    The sentence counts the header's own words, so writing it can change the count: repeat until it holds.
    """
    changed = False
    for _ in range(5):
        notebook = nbformat.read(path, as_version=4)
        header = notebook.cells[0]
        main, optional = notebook_load(path)
        new = STUDY_TIME_LINE.sub(study_time_sentence(main, optional), header.source, count=1)
        if new == header.source:
            return changed
        header.source = new
        nbformat.write(notebook, path)
        changed = True
    raise RuntimeError(f"{path.name}: the study-time sentence does not settle; shorten the header by a word")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, default=NOTEBOOKS)
    parser.add_argument("--write", action="store_true", help="write the computed times into the headers")
    parser.add_argument("--sections", action="store_true", help="print the load of every section")
    args = parser.parse_args(argv)
    if args.sections:
        for path in args.notebooks:
            print(f"{path.name}\n  {'section':70s} {'words':>6s} {'code':>5s} {'Q':>3s} {'ex':>3s} {'min':>6s}")
            for part in section_loads(path):
                name = ("  " * max(part.level - 2, 0) + part.heading + (" (optional)" if part.optional else ""))[:70]
                load = part.load
                print(
                    f"  {name:70s} {load.words:6d} {load.code_lines:5d} {load.questions:3d} "
                    f"{load.coding_exercises:3d} {load.minutes:6.1f}"
                )
        return 0
    print(
        f"{'notebook':40s} {'words':>6s} {'code':>5s} {'Q':>3s} {'ex':>3s} {'main min':>8s} "
        f"{'opt words':>9s} {'opt min':>7s}"
    )
    for path in args.notebooks:
        main_load, optional = notebook_load(path)
        print(
            f"{path.name[:40]:40s} {main_load.words:6d} {main_load.code_lines:5d} {main_load.questions:3d} "
            f"{main_load.coding_exercises:3d} {main_load.minutes:8.0f} {optional.words:9d} {optional.minutes:7.0f}"
        )
        if args.write and write_header(path):
            print(f"  header of {path.name} updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
